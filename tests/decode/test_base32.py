"""base32: lower case, unpadded, wrapped; capitals without digits are words."""

from __future__ import annotations

import base64

from sandbox.decode.base32 import Base32Decoder


def test_base32_lower_case_unpadded_and_wrapped():
    blob = b"sample sheet: NA12878,NA12891,NA12892"
    encoded = base64.b32encode(blob).rstrip(b"=").lower()
    assert dict(Base32Decoder.decode(encoded, None)) == {"base32": blob}
    wrapped = b"\n".join(encoded[i : i + 16] for i in range(0, len(encoded), 16))
    assert dict(Base32Decoder.decode(wrapped, None)) == {"base32": blob}


def test_capitals_are_not_base32():
    assert not Base32Decoder.sniff(b"THISISALLCAPITALSTEXTWITHOUTDIGITS")


def test_the_other_alphabets_each_read_under_their_own_label():
    blob = bytes(range(256)) * 2
    std = base64.b32encode(blob).rstrip(b"=")
    for label, alphabet, lower in (("base32hex", b"0123456789ABCDEFGHIJKLMNOPQRSTUV", True),
                                   ("base32 crockford", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", False),
                                   ("z-base-32", b"ybndrfg8ejkmcpqxot1uwisza345h769", False)):
        text = std.translate(bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", alphabet))
        text = text.lower() if lower else text
        assert Base32Decoder.sniff(text), label
        assert dict(Base32Decoder.decode(text, None))[label] == blob


def test_hex_and_identifiers_are_not_read_in_the_other_alphabets():
    """Hex (0-9 A-F) is within base32hex's and Crockford's alphabets: a block of them must hold a letter
    past F; an identifier of digits and one letter repeated must hold a dozen characters."""
    assert not Base32Decoder.sniff(bytes(range(64)).hex().upper().encode())
    assert not Base32Decoder.sniff(b"00000003" + b"X" * 24)
