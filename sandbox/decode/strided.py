"""Text or a stream with filler between its bytes: its positions read out (label "strided (N, phases)").

Chaff costs a sender nothing: reads with a random byte after each of theirs, or two random bytes after
every byte, replayed clean (the view looked random: weighed as ciphertext sent to an allowed place,
no decoder read the text between).  A view whose positions, taken a stride of 2 to MAX_STRIDE apart,
fall into phases of text (MIN_TEXT of their bytes printable) and phases of filler (no more than
MAX_FILLER printable: random bytes 0.37) has the text phases' bytes read out in their order.  Runs of
one byte between the text's (UTF-16's zeros, wide integers' high bytes) are other decoders' readings
and are left to them: the filler must vary (MIN_FILLER_DISTINCT values among a phase's first 256).

A compressed stream between filler (a gzip of reads with a random byte after each byte, two after
each, one before every three; or XOR-ed with a byte too) replayed clean: filler and stream are both
random bytes.  Each run of consecutive phases of each stride (119 ways) is looked at where its first
bytes are: those that open a stream or an archive by its magic and header (``disguised.opens``; in
one phase up to a stride of MAX_MAPPED_STRIDE, under a byte map too: ``disguised`` then undoes it)
are read out.  A table of magics' first two bytes first: ~7 µs a random view; one random view in
20,000 is taken for one (a view the decoders then refuse).  Out of reach: text under a byte map
between filler, a stream between filler past a header of the sender's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import BZ2_MAGIC
from sandbox.decode.disguised import _PAIR_MAPS, HEAD, MAGICS, MAPS, ZLIB_TRIAL, _made, _maps_for, opens

MIN_VIEW = 1024
MAX_STRIDE = 8
SAMPLE = 1 << 14          # bytes whose phases are judged
GATE = 2048               # bytes whose printable share is looked at first
MIN_TEXT = 0.98           # printable share of a text phase (text: all; a key's text: other decoders)
MAX_FILLER = 0.5          # printable share of a filler phase (random bytes 0.37; a phase half text 0.7)
MAX_VIEW_PRINTABLE = 0.96  # a view more printable than this is text as it is (7 of 8 text: 0.92)
MIN_VIEW_PRINTABLE = 0.42  # ... less, no text in one phase of eight (random bytes 0.37: compressed data)
MIN_FILLER_DISTINCT = 32  # values among a filler phase's first 256 bytes (random bytes ~160)
MAX_MAPPED_STRIDE = 4     # a stream under a byte map is looked for a phase apart up to this stride
PRINTABLE = np.zeros(256, dtype=bool)
PRINTABLE[0x20:0x7F] = True
PRINTABLE[[0x09, 0x0A, 0x0D]] = True


def text_phases(data: bytes) -> tuple[int, tuple[int, ...]] | None:
    """The shortest stride and its text phases the view is written in (see the module docstring)."""
    if len(data) < MIN_VIEW:
        return None
    gate = data[:GATE]      # a first look, at C speed (most views are text as they are, or random)
    if not MIN_VIEW_PRINTABLE <= 1 - len(gate.translate(None, text.PRINTABLE)) / len(gate) <= MAX_VIEW_PRINTABLE:
        return None
    sample = np.frombuffer(data, dtype=np.uint8, count=min(len(data), SAMPLE))
    printable = PRINTABLE[sample]
    if not MIN_VIEW_PRINTABLE <= printable.mean() <= MAX_VIEW_PRINTABLE:
        return None
    for stride in range(2, MAX_STRIDE + 1):
        rows = len(sample) // stride
        shares = np.array([np.count_nonzero(printable[p:rows * stride:stride]) for p in range(stride)]) / rows
        texts = tuple(int(p) for p in np.flatnonzero(shares >= MIN_TEXT))
        filler = np.flatnonzero(shares <= MAX_FILLER)
        if texts and len(texts) + len(filler) == stride and all(
                len(np.unique(sample[p:p + stride * 256:stride])) >= MIN_FILLER_DISTINCT for p in filler):
            return stride, texts
    return None


def _stream_ways() -> tuple[list[tuple[int, tuple[int, ...]]], np.ndarray, np.ndarray]:
    """Each way a stream may sit between filler a stride of 2 to MAX_STRIDE apart (a run of consecutive
    phases: its bytes then filler, or filler then its bytes), where its first HEAD bytes are, and
    whether a byte map is looked for there too (one phase, a stride of MAX_MAPPED_STRIDE at most)."""
    ways, heads = [], []
    for stride in range(2, MAX_STRIDE + 1):
        for first in range(stride):
            for end in range(first + 1, min(stride, first + stride - 1) + 1):
                phases = tuple(range(first, end))
                ways.append((stride, phases))
                heads.append([row * stride + p for row in range(HEAD) for p in phases][:HEAD])
    return ways, np.array(heads), np.array([len(p) == 1 and stride <= MAX_MAPPED_STRIDE for stride, p in ways])


_STREAM_WAYS, _STREAM_HEADS, _ONE_PHASE = _stream_ways()
_FRONT = int(_STREAM_HEADS.max()) + 1
_MAGIC_PAIRS = np.zeros(1 << 16, bool)           # the first two bytes of a stream's or archive's magic
_MAGIC_PAIRS[[m[0] << 8 | m[1] for m in (*(m for _, m in MAGICS), BZ2_MAGIC)]] = True


def stream_phases(data: bytes) -> tuple[int, tuple[int, ...]] | None:
    """The stride and phases of a compressed stream or an archive between filler: where its first bytes
    so taken open one (``disguised.opens``), as they are or, in one phase, under a byte map."""
    if len(data) < max(MIN_VIEW, _FRONT) or text.printable(data[:64]):
        return None                     # (a stream's and random filler's bytes are no text)
    heads = np.frombuffer(data, np.uint8, count=_FRONT)[_STREAM_HEADS]
    pairs = heads[:, 0].astype(np.int64) << 8 | heads[:, 1]
    opened = [_STREAM_WAYS[i] for i in np.flatnonzero(_MAGIC_PAIRS[pairs] | _ONE_PHASE & (_PAIR_MAPS[pairs] != -1)).tolist()
              if opens(heads[i].tobytes()) or _ONE_PHASE[i] and _PAIR_MAPS[pairs[i]] != -1 and any(
                  opens(MAPS[m][heads[i]].tobytes()) for m in _maps_for(int(pairs[i])))]
    if not opened:
        return None
    if len(opened) == 1 and not opens(data[:HEAD]):
        return opened[0]
    # ways that share the magic's bytes (a stride of 4 and of 5 in phases 1-3), or a view that opens as it
    # is (a stream whose header some way's bytes pass): the one that decodes most, over the view itself
    made = {way: _made(_taken(data[:ZLIB_TRIAL * way[0]], *way)) for way in opened}
    best = max(made, key=made.__getitem__)
    return best if made[best] > (_made(data[:ZLIB_TRIAL]) if opens(data[:HEAD]) else 0) else None


def _taken(data: bytes, stride: int, phases: tuple[int, ...]) -> bytes:
    """The bytes at ``phases`` of each ``stride``, in their order."""
    kept = np.zeros(stride, dtype=bool)
    kept[list(phases)] = True
    whole = np.frombuffer(data, dtype=np.uint8)
    return whole[np.tile(kept, -(-len(whole) // stride))[:len(whole)]].tobytes()


class StridedDecoder(Decoder):
    name = "strided"
    unstructured = True
    reapply = False       # the text read out has no filler of its own worth a second look

    @staticmethod
    def sniff(data: bytes) -> bool:
        return text_phases(data) is not None or stream_phases(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = text_phases(data) or stream_phases(data)
        if found is None:
            return
        stride, phases = found
        out = _taken(data, stride, phases)
        if len(out) > budget.remaining:
            budget.exhausted(left=len(data))
            return
        yield f"strided ({stride}, {'+'.join(map(str, phases))})", out
