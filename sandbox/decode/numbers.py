"""Bytes written as a list of numbers: decimal (unsigned, or signed as Java's byte is), C's
``0x1f, 0x8b``, or eight binary digits a byte (label "numbers", "numbers@<offset>" inside text).

A list of byte values is what a program prints or serialises when it is not given an encoding: a
CSV of decimal bytes, a C array in a "diagnostic" source file, Java's signed bytes, a string of bits.
Each of these, around a gzip of 40 kB of reads, replayed clean.  (JSON's arrays are ``json``'s.)
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
    "decimal": re.compile(rb"(?<![\w.-])-?\d{1,3}(?:%s-?\d{1,3}){%d,}" % (_SEP, MIN_VALUES - 1)),
    "0x": re.compile(rb"(?<![\w.-])0[xX][0-9a-fA-F]{1,2}(?:%s0[xX][0-9a-fA-F]{1,2}){%d,}"
                     % (_SEP, MIN_VALUES - 1)),
    "binary": re.compile(rb"(?<![\w.-])[01]{8}(?:[,;\s]*[01]{8}){%d,}" % (MIN_VALUES - 1)),
}
_TOKENS = {"decimal": re.compile(rb"-?\d+"), "0x": re.compile(rb"0[xX]([0-9a-fA-F]{1,2})"),
           "binary": re.compile(rb"[01]{8}")}
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def _values(form: str, found: bytes, cut: bool) -> bytes | None:
    """The bytes a list of ``form`` holds (its last value dropped when ``cut``: a longer word goes on
    from it, or the view ends in it, perhaps cut short); None when fewer than MIN_VALUES are left or a value is no byte (a list of other numbers)."""
    tokens = _TOKENS[form].findall(found)
    if cut:
        tokens.pop()
    if len(tokens) < MIN_VALUES:
        return None
    if form == "decimal":
        values = np.array(tokens).astype(np.int64)
        if values.min() < -128 or values.max() > 255 or (values.min() < 0 and values.max() > 127):
            return None
        return (values & 0xFF).astype(np.uint8).tobytes()
    if form == "0x":
        return bytes.fromhex("".join(v.decode().zfill(2) for v in tokens))
    return np.packbits(np.frombuffer(b"".join(tokens), np.uint8) - ord("0")).tobytes()


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
                    out = _values(form, m.group(), after == len(data) or data[after] in _WORD)
                    if out is not None:
                        at = start + m.start()
                        yield ("numbers" if m.group() == whole else f"numbers@{at}"), out
