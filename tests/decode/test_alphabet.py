"""Hex, base32 and base64 in an alphabet of the writer's own: in order, read exactly; shuffled, the
bytes under a substitution; the standard alphabets, text and short views left to others."""

from __future__ import annotations

import base64
import random
import string

from sandbox.decode.alphabet import AlphabetDecoder

BLOB = random.Random(1).randbytes(3000)
BASE64 = (string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/").encode()


def _decode(text: bytes) -> dict[str, bytes]:
    assert AlphabetDecoder.sniff(text)
    return dict(AlphabetDecoder.decode(text, None))


def test_an_alphabet_in_order_is_read_exactly():
    hexed = BLOB.hex().translate(str.maketrans("0123456789abcdef", "GHIJKLMNOPQRSTUV")).encode()
    assert _decode(hexed) == {"hex (other alphabet)": BLOB}
    crypt = base64.b64encode(BLOB).translate(bytes.maketrans(BASE64, b"./" + (string.digits + string.ascii_uppercase
                                                                             + string.ascii_lowercase).encode()))
    wrapped = b"\r\n".join(crypt[i:i + 64] for i in range(0, len(crypt), 64))
    assert _decode(wrapped) == {"base64 (other alphabet)": BLOB}
    ranged = base64.b32encode(BLOB).translate(bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                                              bytes(range(0x40, 0x60))))
    assert _decode(ranged) == {"base32 (other alphabet)": BLOB}


def test_a_range_with_symbols_missing_is_read_from_its_first():
    """Hex of text uses a few of the sixteen digits: those of a range are known by their distance from
    its first."""
    text = b"Sample_ID,Sample_Name\nS1,NA12878-blood\n" * 10
    hexed = text.hex().translate(str.maketrans("0123456789abcdef", "klmnopqrstuvwxyz")).encode()
    assert len(set(hexed)) < 16
    assert _decode(hexed) == {"hex (other alphabet)": text}


def test_a_shuffled_alphabet_gives_the_bytes_under_a_substitution():
    letters = "".join(random.Random(2).sample("qwertyuiopasdfgh", 16))
    text = bytes(range(256)) * 4
    (out,) = _decode(text.hex().translate(str.maketrans("0123456789abcdef", letters)).encode()).values()
    assert len(out) == len(text) and len(set(out)) == 256
    assert len({(a, b) for a, b in zip(text, out, strict=True)}) == 256      # one byte for each


def test_standard_alphabets_text_and_short_views_are_left_to_others():
    assert not AlphabetDecoder.sniff(BLOB.hex().encode())
    assert not AlphabetDecoder.sniff(base64.b64encode(BLOB))
    assert not AlphabetDecoder.sniff(base64.urlsafe_b64encode(BLOB))
    assert not AlphabetDecoder.sniff(base64.b32encode(BLOB))
    assert not AlphabetDecoder.sniff(b"the quick brown fox jumps over the lazy dog " * 20)      # spaces
    assert not AlphabetDecoder.sniff(BLOB[:100].hex().translate(str.maketrans("0123456789abcdef",
                                                                             "ghijklmnopqrstuv")).encode())
    ragged = b"\n".join(b"ghijklmnopqrstuv"[: 4 + n % 12] * 8 for n in range(40))
    assert not AlphabetDecoder.sniff(ragged)                                 # lines of many widths
