"""Reads written transposed: every read's first base, then every read's second, ... (label "transposed").

Writing reads column by column costs a sender one ``zip(*reads)``: 40 kB of reads' bases so written
(flat, or a column a line), gzipped or not, replayed clean; no k-mer survived, each base beside the
same cycle of another read.  A view of bases alone is put back read by read:

- a column a line: lines of one length (the number of reads), as many as a read has bases: the
  lines' first bases are the first read, their second the second, ...;
- flat: where the view's length is a number of reads times a read's length, for each read length of
  MIN_READ to MAX_READ bases that divides it (MAX_GUESSES at most, fewer past MAX_GUESSED bases in
  all, the lengths sequencers make first), the reads so cut are one view (nothing in the bases says
  which length it was).

A view of one long sequence (a consensus genome) whose length has divisors is read so too: views of
bases in another order, which match nothing.  Out of reach: reads of unequal lengths transposed,
qualities and names transposed with them, bases packed two bits a base and transposed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder

MIN_VIEW = 512             # bases
MIN_READ, MAX_READ = 30, 1000
MIN_READS = 8
MAX_GUESSES = 12
MAX_INPUT = 4 << 20        # bases put back at most (a guess is a view of as many)
MAX_GUESSED = 8 << 20      # bases all of a flat view's guesses make (fewer guesses for a larger view)
_BASES = b"ACGTNacgtn"
# Read lengths sequencers make, tried first where a length has more divisors than MAX_GUESSES
_USUAL = (150, 151, 100, 101, 250, 251, 75, 76, 50, 51, 300, 301, 36, 35, 125, 126, 200, 201)


def _lengths(size: int) -> list[int]:
    """Read lengths a flat view of ``size`` bases may be cut into (the usual first)."""
    found = [n for n in range(MIN_READ, min(MAX_READ, size // MIN_READS) + 1) if size % n == 0]
    most = max(1, min(MAX_GUESSES, MAX_GUESSED // size))
    return sorted(found, key=lambda n: (_USUAL.index(n) if n in _USUAL else len(_USUAL), n))[:most]


def layout(data: bytes) -> tuple[str, list[int]] | None:
    """How a view of bases may be transposed: ("lines", [reads]) for a column a line, ("flat", [read
    lengths]) for one run of bases; None for anything else."""
    if data[:64].translate(None, _BASES + b"\r\n"):
        return None                     # (a look at the first bytes before the whole view)
    body = data.rstrip(b"\r\n\t ")
    if not MIN_VIEW <= len(body) <= MAX_INPUT + MAX_READ:
        return None
    if b"\n" in body:
        if not MIN_READ <= body.count(b"\n") + 1 <= MAX_READ:
            return None
        lines = body.replace(b"\r", b"").split(b"\n")
        width = len(lines[0])
        if not MIN_READ <= len(lines) <= MAX_READ or width < MIN_READS or any(len(line) != width for line in lines):
            return None
        return ("lines", [width]) if not b"".join(lines).translate(None, _BASES) else None
    if body.translate(None, _BASES):
        return None
    found = _lengths(len(body))
    return ("flat", found) if found else None


def _reads(bases: bytes, length: int) -> bytes:
    """``bases`` written column by column, put back as reads of ``length`` bases, a line each."""
    reads = np.frombuffer(bases, np.uint8).reshape(length, -1).T
    return np.concatenate([reads, np.full((len(reads), 1), 10, np.uint8)], axis=1).tobytes()


class TransposedDecoder(Decoder):
    name = "transposed"
    text = True
    unstructured = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return layout(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = layout(data)
        if found is None:
            return
        kind, values = found
        body = data.rstrip(b"\r\n\t ")
        if kind == "lines":
            bases = body.replace(b"\r", b"").replace(b"\n", b"")
            guesses = [len(bases) // values[0]]
        else:
            bases, guesses = body, values
        for length in guesses:
            if len(bases) + len(bases) // length > budget.remaining:
                budget.exhausted(left=len(data))
                return
            yield f"transposed (reads of {length})", _reads(bases, length)
