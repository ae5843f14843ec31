"""Bases written run-length coded: each run of one base as its count and the base (label "run-length").

A homopolymer-compressing writer sends ``3A1C2G`` for ``AAACGG`` (or ``A3CG2``, or leaves out a count
of one): reads so written replayed clean, no k-mer surviving the digits between the bases.  A text view
whose first bytes are base letters and digits (line breaks, spaces, commas and tabs between) and
holds both is expanded: each count applies to the base after it, or, where lines end in digits more
often than they start with one (the count after its base), to the base before it.  A count is at most MAX_RUN (a longer one is no
homopolymer: the view is left); the output is bounded by the step's budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder

MIN_VIEW = 256            # bytes: two reads' runs or so
SNIFF = 256               # bytes looked at first
MAX_OTHER = 0.02          # share of them that may be other bytes
MIN_DIGITS = 0.1          # ... that must be digits (bases alone are read as they are)
MIN_BASES = 0.3
MAX_RUN = 1000
_BASES = b"ACGTNacgtn"
_DIGITS = b"0123456789"
_SEPARATORS = b"\r\n ,\t"
_COUNT_FIRST = re.compile(rb"(\d+)([ACGTNacgtn])")
_COUNT_AFTER = re.compile(rb"([ACGTNacgtn])(\d+)")
_LINE_END_DIGIT = re.compile(rb"\d\r?\n")
_LINE_START_DIGIT = re.compile(rb"(?:^|\n)\d")


def looks_run_length(data: bytes) -> bool:
    head = data[:SNIFF]
    if len(data) < MIN_VIEW or len(head.translate(None, _BASES + _DIGITS + _SEPARATORS)) > MAX_OTHER * len(head):
        return False
    digits = len(head) - len(head.translate(None, _DIGITS))
    bases = len(head) - len(head.translate(None, _BASES))
    return digits >= MIN_DIGITS * len(head) and bases >= MIN_BASES * len(head)


class _Stop(Exception):
    """Expanding stopped: a count no homopolymer's ("count"), or the output past its limit ("limit")."""


def expand_runs(data: bytes, limit: int) -> bytes | str:
    """The view with each run expanded, or why not: a count no homopolymer's ("count"), the output past
    ``limit`` bytes ("limit", counted as it is made)."""
    # a count before its base never ends a line, one after it never starts one
    after = len(_LINE_END_DIGIT.findall(data, 0, 1 << 16)) > len(_LINE_START_DIGIT.findall(data, 0, 1 << 16))
    pattern = _COUNT_AFTER if after else _COUNT_FIRST
    made = len(data)

    def run(match: re.Match[bytes]) -> bytes:
        nonlocal made
        base, count = (match[1], match[2]) if after else (match[2], match[1])
        if len(count) > 4 or int(count) > MAX_RUN:
            raise _Stop("count")
        made += int(count) - len(match[0])
        if made > limit:
            raise _Stop("limit")
        return base * int(count)

    try:
        return pattern.sub(run, data)
    except _Stop as stop:
        return str(stop)


class RunLengthDecoder(Decoder):
    name = "run-length"
    text = True
    unstructured = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return looks_run_length(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        out = expand_runs(data, budget.remaining)
        if out == "limit":
            budget.exhausted(left=len(data))
        elif isinstance(out, bytes):
            yield "run-length", out
