"""Bytes written as a list of numbers: decimal (unsigned, or signed as Java's byte is), C's
``0x1f, 0x8b``, or eight binary digits a byte (label "numbers", "numbers@<offset>" inside text);
decimal words of 16, 32 or 64 bits, in either byte order ("numbers (32-bit little-endian)").

A list of byte values is what a program prints or serialises when it is not given an encoding: a
CSV of decimal bytes, a C array in a "diagnostic" source file, Java's signed bytes, a string of bits.
Each of these, around a gzip of 40 kB of reads, replayed clean; so did the same bytes as a list of
wider integers (a JavaScript ``Uint32Array`` made a JSON array, a column of 64-bit words).  A list of
wider numbers is read as words only when their top bytes vary as packed bytes' do (sixteen values at
least): counts, timestamps and measurements keep theirs in a few values.  (JSON's arrays are ``json``'s,
through ``words`` below.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

MIN_VALUES = 16           # a shorter list is no evidence (16 bytes: the correlator's floor)
MIN_RUN = 2 * MIN_VALUES  # characters: the shortest list of MIN_VALUES ("1,2,3,...")
_SEP = rb"[,;\s]+"
# A list of one form: MIN_VALUES values or more, each separated from the next, not after a word.
# No look-ahead at its end: a list cut by a longer word ("..., 7, 1234") would make the search back
# off token by token from every start (quadratic on a hostile list); its last value is dropped instead.
_LISTS = {
    "decimal": re.compile(rb"(?<![\w.-])-?\d{1,20}(?:%s-?\d{1,20}){%d,}" % (_SEP, MIN_VALUES - 1)),
    "0x": re.compile(rb"(?<![\w.-])0[xX][0-9a-fA-F]{1,2}(?:%s0[xX][0-9a-fA-F]{1,2}){%d,}"
                     % (_SEP, MIN_VALUES - 1)),
    "binary": re.compile(rb"(?<![\w.-])[01]{8}(?:[,;\s]*[01]{8}){%d,}" % (MIN_VALUES - 1)),
}
_TOKENS = {"decimal": re.compile(rb"-?\d+"), "0x": re.compile(rb"0[xX]([0-9a-fA-F]{1,2})"),
           "binary": re.compile(rb"[01]{8}")}
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


# Distinct top bytes, of MIN_VALUES words or more, from which a list is packed bytes: random bytes give
# ~15.5 of 16 and text a dozen or more; timestamps and readings far fewer.  And a quarter of them from
# 0x20 up (random bytes: seven eighths; text: all): counts that need 16 bits keep theirs small.
MIN_TOP_BYTES = 8
HIGH_TOP_BYTE = 0x20


def words(values: np.ndarray) -> list[tuple[str, bytes]]:
    """Integers (int64, or uint64 past it) too wide for bytes read as the 16-, 32- or 64-bit words they
    were written from, in both byte orders: ("<bits>-bit little-endian", bytes), ("...big-endian", ...);
    none when they fit no width or their top bytes do not vary as packed bytes' do."""
    low, high = int(values.min()), int(values.max())
    for bits in (16, 32, 64):
        if (low >= 0 and high >> bits == 0) or (-(1 << (bits - 1)) <= low and high < 1 << (bits - 1)):
            break
    else:
        return []
    packed = values.view(np.uint64)
    top = (packed >> np.uint64(bits - 8)) & np.uint64(0xFF)
    if len(np.unique(top)) < min(MIN_TOP_BYTES, len(values) // 2) or 4 * np.count_nonzero(top >= HIGH_TOP_BYTE) < len(top):
        return []
    word = packed.astype(f"<u{bits // 8}")
    return [(f"{bits}-bit little-endian", word.tobytes()), (f"{bits}-bit big-endian", word.byteswap().tobytes())]


def integers(tokens: list[bytes]) -> np.ndarray | None:
    """Decimal tokens as int64, or uint64 when one is past int64 and none is negative; None past both."""
    try:
        return np.array(tokens).astype(np.int64)
    except OverflowError:
        try:
            return None if any(t.startswith(b"-") for t in tokens) else np.array(tokens).astype(np.uint64)
        except OverflowError:
            return None


def _values(form: str, found: bytes, cut: bool) -> list[tuple[str, bytes]]:
    """The readings of a list of ``form`` (its last value dropped when ``cut``: a longer word goes on
    from it, or the view ends in it, perhaps cut short): ("", bytes) for byte values, words for wider
    ones; none when fewer than MIN_VALUES are left or they are no bytes (a list of other numbers)."""
    tokens = _TOKENS[form].findall(found)
    if cut:
        tokens.pop()
    if len(tokens) < MIN_VALUES:
        return []
    if form == "decimal":
        values = integers(tokens)
        if values is None:
            return []
        if values.dtype == np.uint64 or values.min() < -128 or values.max() > 255 or \
                (values.min() < 0 and values.max() > 127):
            return words(values)
        return [("", (values & 0xFF).astype(np.uint8).tobytes())]
    if form == "0x":
        return [("", bytes.fromhex("".join(v.decode().zfill(2) for v in tokens)))]
    return [("", np.packbits(np.frombuffer(b"".join(tokens), np.uint8) - ord("0")).tobytes())]


class NumbersDecoder(Decoder):
    name = "numbers"
    text = True
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return text.looks_textual(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        whole = data.strip()
        for start, end, _ in text.runs(data, text.NUMBER, MIN_RUN, need=text.DIGIT):
            run = data[start:end]
            for form, pattern in _LISTS.items():
                for m in pattern.finditer(run):
                    after = start + m.end()
                    at = start + m.start()
                    label = "numbers" if m.group() == whole else f"numbers@{at}"
                    for reading, out in _values(form, m.group(), after == len(data) or data[after] in _WORD):
                        yield (f"{label} ({reading})" if reading else label), out
