"""Text with filler between its bytes: the text's positions read out (label "strided (N, phases)").

Chaff costs a sender nothing: reads with a random byte after each of theirs, or two random bytes after
every byte, replayed clean (the view looked random: weighed as ciphertext sent to an allowed place,
no decoder read the text between).  A view whose positions, taken a stride of 2 to MAX_STRIDE apart,
fall into phases of text (MIN_TEXT of their bytes printable) and phases of filler (no more than
MAX_FILLER printable: random bytes 0.37) has the text phases' bytes read out in their order.  Runs of
one byte between the text's (UTF-16's zeros, wide integers' high bytes) are other decoders' readings
and are left to them: the filler must vary (MIN_FILLER_DISTINCT values among a phase's first 256).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder

MIN_VIEW = 1024
MAX_STRIDE = 8
SAMPLE = 1 << 14          # bytes whose phases are judged
GATE = 2048               # bytes whose printable share is looked at first
MIN_TEXT = 0.98           # printable share of a text phase (text: all; a key's text: other decoders)
MAX_FILLER = 0.5          # printable share of a filler phase (random bytes 0.37; a phase half text 0.7)
MAX_VIEW_PRINTABLE = 0.96  # a view more printable than this is text as it is (7 of 8 text: 0.92)
MIN_VIEW_PRINTABLE = 0.42  # ... less, no text in one phase of eight (random bytes 0.37: compressed data)
MIN_FILLER_DISTINCT = 32  # values among a filler phase's first 256 bytes (random bytes ~160)
PRINTABLE = np.zeros(256, dtype=bool)
PRINTABLE[0x20:0x7F] = True
PRINTABLE[[0x09, 0x0A, 0x0D]] = True


def text_phases(data: bytes) -> tuple[int, tuple[int, ...]] | None:
    """The shortest stride and its text phases the view is written in (see the module docstring)."""
    if len(data) < MIN_VIEW:
        return None
    sample = np.frombuffer(data, dtype=np.uint8, count=min(len(data), GATE))     # a first look
    if not MIN_VIEW_PRINTABLE <= PRINTABLE[sample].mean() <= MAX_VIEW_PRINTABLE:
        return None
    sample = np.frombuffer(data, dtype=np.uint8, count=min(len(data), SAMPLE))
    printable = PRINTABLE[sample]
    if not MIN_VIEW_PRINTABLE <= printable.mean() <= MAX_VIEW_PRINTABLE:
        return None
    for stride in range(2, MAX_STRIDE + 1):
        rows = len(sample) // stride
        shares = np.array([np.count_nonzero(printable[p:rows * stride:stride]) for p in range(stride)]) / rows
        text = tuple(int(p) for p in np.flatnonzero(shares >= MIN_TEXT))
        filler = np.flatnonzero(shares <= MAX_FILLER)
        if text and len(text) + len(filler) == stride and all(
                len(np.unique(sample[p:p + stride * 256:stride])) >= MIN_FILLER_DISTINCT for p in filler):
            return stride, text
    return None


class StridedDecoder(Decoder):
    name = "strided"
    unstructured = True
    reapply = False       # the text read out has no filler of its own worth a second look

    @staticmethod
    def sniff(data: bytes) -> bool:
        return text_phases(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = text_phases(data)
        if found is None:
            return
        stride, phases = found
        whole = np.frombuffer(data, dtype=np.uint8)
        kept = np.zeros(stride, dtype=bool)
        kept[list(phases)] = True
        out = whole[np.tile(kept, -(-len(whole) // stride))[:len(whole)]].tobytes()
        if len(out) > budget.remaining:
            budget.exhausted(left=len(data))
            return
        yield f"strided ({stride}, {'+'.join(map(str, phases))})", out
