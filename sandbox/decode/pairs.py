"""Bases two to a symbol of sixteen: each symbol as its two base-4 digits (label "pairs of bases").

A writer that numbers the sixteen dinucleotides (``AA`` 0 ... ``TT`` 15, in any order of the four
bases) sends a read as half as many numbers: reads so written, a number a pair, replayed clean (the
numbers decoder made the values, sixteen symbols no k-mer reading knows).  A view of MIN_SYMBOLS
bytes or more, every one of them under sixteen and at least MIN_DISTINCT of the sixteen, is handed on
as two bytes a symbol, its high and low base-4 digit: four symbols the correlator reads as bases in
other symbols (``sandbox.index.kmers``), whatever order the writer gave the bases.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder

MIN_SYMBOLS = 128         # two reads of 150 bases
MIN_DISTINCT = 12         # of the sixteen (reads use nearly all; a few small counts do not)


_SIXTEEN = bytes(range(16))


def sixteen_symbols(data: bytes) -> bool:
    """Whether every byte of the view is one of sixteen symbols (its first 256 looked at first)."""
    if len(data) < MIN_SYMBOLS or data[:256].translate(None, _SIXTEEN) or data.translate(None, _SIXTEEN):
        return False
    return len(set(data[:4096])) >= MIN_DISTINCT


class PairsDecoder(Decoder):
    name = "pairs of bases"
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sixteen_symbols(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if 2 * len(data) > budget.remaining:
            budget.exhausted(left=len(data))
            return
        values = np.frombuffer(data, dtype=np.uint8)
        yield "pairs of bases", np.stack((values >> 2, values & 3), axis=1).tobytes()
