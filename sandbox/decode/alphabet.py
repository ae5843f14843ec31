"""Hex, base32 or base64 written in an alphabet of the writer's own: a whole view only.

Reads written as hex in sixteen other letters (``ghijklmnopqrstuv``), or a gzip of them so, replayed
clean: no decoder read the text, and text is no ciphertext to weigh.  A view of up to 16, 32 or 64
distinct symbols (line breaks aside; a few of them may not occur), none of them a space, in lines of
one width, not within a standard alphabet, is read with its symbols in their byte order standing for
the digits in theirs
(symbols within a range of as many characters as the alphabet has digits stand for them from the
range's first).
That is the exact decoding for an alphabet in order (a range of letters, crypt's ``./0-9A-Za-z``);
for one shuffled it is the bytes under a substitution, which is how reads in such hex are still
found (bases written in four other symbols are: ``sandbox.index.kmers``), and what makes a shuffled
alphabet's ciphertext or compressed data look what it is (``sandbox.decode.unopened``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder

MIN_CHARS = 256     # shorter views in 16 to 64 symbols are words and identifiers as often as not
SNIFF = 8192        # characters whose alphabet the sniff reads (compressed bytes show every symbol in far fewer)
_LINES = b"\r\n"
_PRINTABLE = bytes(range(0x21, 0x7F))
# symbols: (label, the standard alphabet in value order); views with SLACK fewer symbols are read too
SLACK = {16: 4, 32: 4, 64: 6}
STANDARD: dict[int, tuple[str, bytes]] = {
    16: ("hex (other alphabet)", b"0123456789abcdef"),
    32: ("base32 (other alphabet)", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
    64: ("base64 (other alphabet)", b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
}
# by size, the standard alphabets and their usual variants, which their own decoders read (a view of
# 32 symbols within base64's is base64 of text as often: base64 reads it)
_BASE64 = (frozenset(STANDARD[64][1]), frozenset(STANDARD[64][1][:62] + b"-_"))
_KNOWN = {16: (frozenset(b"0123456789abcdef"), frozenset(b"0123456789ABCDEF")),
          32: (frozenset(STANDARD[32][1]), frozenset(STANDARD[32][1].lower()), *_BASE64),
          64: _BASE64}


def _text(data: bytes) -> tuple[bytes, bytes] | None:
    """The view's symbols without line breaks and its alphabet (sorted), when it is written so."""
    if b" " in data:
        return None
    lines = data.strip().split(b"\n")
    if len(lines) > 1 and len({len(line.rstrip(b"\r")) for line in lines[:-1]}) > 1:
        return None
    text = data.translate(None, _LINES).strip().rstrip(b"=")     # base32's and base64's padding
    if len(text) < MIN_CHARS or text.translate(None, _PRINTABLE):
        return None
    alphabet = np.flatnonzero(np.bincount(np.frombuffer(text, dtype=np.uint8), minlength=256)).astype(np.uint8).tobytes()
    size = _size(len(alphabet))
    if size is None or any(known.issuperset(alphabet) for known in _KNOWN[size]):
        return None
    return text, alphabet


def _size(symbols: int) -> int | None:
    """The alphabet a view of this many distinct symbols is written in (16, 32 or 64), if any."""
    return next((size for size, slack in SLACK.items() if size - slack <= symbols <= size), None)


class AlphabetDecoder(Decoder):
    name = "alphabet"
    text = True
    unstructured = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.isascii() and len(data) >= MIN_CHARS and _text(data[:SNIFF]) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = _text(data)
        if found is None:
            return
        text, alphabet = found
        size = _size(len(alphabet))
        label, standard = STANDARD[size]
        if alphabet[-1] - alphabet[0] < size and alphabet[0] + size <= 0x7F:   # within a range from its first
            alphabet = bytes(range(alphabet[0], alphabet[0] + size))
        text = text.translate(bytes.maketrans(alphabet, standard[:len(alphabet)]))
        try:
            if size == 16:
                out = binascii.unhexlify(text[:len(text) & ~1])
            elif size == 32:
                out = base64.b32decode(text[:len(text) - len(text) % 8])
            else:
                out = binascii.a2b_base64(text[:len(text) & ~3])
        except (binascii.Error, ValueError):
            return
        yield label, out
