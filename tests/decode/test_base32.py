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
