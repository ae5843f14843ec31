"""Text whose symbols are words: each word as one byte (label "words"), so a run of four of them is
read as bases like any four symbols.

The correlator reads bases written in four other symbols when a symbol is a byte, or a text byte
with separators between (``sandbox.index.kmers.symbol_runs``).  Reads written as four words ("apple
cherry grape tomato"), codes of two letters or three digits, replayed clean.  Here each token (a run
of two bytes or more between NUL, white space and ASCII punctuation: one-byte symbols such as
``A,C,G,T`` are read in the view itself) becomes its number, 1-255 as the tokens first appear
(``_kernels.token_ids``, 2.5 ns a byte, words compared whole); a view whose numbers hold a run of
four is handed on.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder
from sandbox.index import _kernels
from sandbox.index.kmers import SYMBOL_RUN_MIN, symbol_runs


def token_ids(data: bytes) -> bytes:
    """Each whole token of ``data`` as its number (a token the view's end cuts is left out)."""
    out = bytearray(len(data) // 3 + 1)
    count, cut = _kernels.token_ids(data, out)
    return bytes(out[:count - cut])


class WordsDecoder(Decoder):
    name = "words"
    unstructured = True
    text = True
    reapply = False      # its output is numbers, not words

    @staticmethod
    def sniff(data: bytes) -> bool:
        return text.looks_textual(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        ids = token_ids(data)
        if len(ids) < SYMBOL_RUN_MIN or not len(symbol_runs(ids, "bytes")):
            return
        if len(ids) > budget.remaining:
            budget.exhausted(left=len(data))
            return
        yield "words", ids
