"""Repetition collapsed before matching: a GiB of zeros says nothing a KiB of zeros does not.

A decompression bomb (or an upload of padding) is a long run of one byte or of one block, and so
is the compressed bomb itself (deflate of zeros is a short pattern repeated).  The decoders must
still see such bytes whole (offsets inside a tar or zip depend on them), but the correlator gains
nothing from scanning every copy, and long runs of a short period are the slowest input for byte
fingerprinting.  ``collapse`` gives the correlator a view with runs of one byte value cut to
RUN_KEEP bytes and blocks equal to the block before them dropped.  Every k-gram (32 bytes) of the
result occurs in the input and every k-gram of the input that is not inside a run survives, so a
leak next to a bomb is fingerprinted as before; k-grams inside a run are low-information and never
fingerprints anyway (``sandbox.index.winnow``).
"""

from __future__ import annotations

import re

import numpy as np

# A run of one byte value is cut to this many bytes: twice a k-gram, so no k-gram of the result
# spans a cut run and every k-gram reaching into a run from either side is kept.
RUN_KEEP = 64
# Samples taken every STRIDE bytes find the runs: SPAN + 1 equal samples in a row span 256 bytes,
# so every run of (SPAN + 1) * STRIDE = 288 bytes or more is seen (shorter ones cost fingerprinting
# little: they are shorter than its window), and text, whose lines break every few dozen bytes, is
# almost never a candidate.
STRIDE = 32
SPAN = 8  # sample gaps that must be equal
RUN_CHUNK = 1 << 20  # bytes searched for run boundaries at once (bounded temporaries)
SMALL_SPAN = 4096  # stretches up to this long are searched with bytes.find: numpy's set-up costs more
_RUN_OF: dict[bytes, re.Pattern[bytes]] = {}  # a run of one byte value, by value (256 at most)
# Block size: 840 = lcm(1..8), so a run of any period up to 8 (and of 10, 12, 14, 15, 20, ...)
# is made of equal blocks; and more than three times the 256-byte fingerprint window.
BLOCK = 840
# Columns compared first, on every block pair: real content differs in one of them almost always,
# so only repeated blocks are compared whole.
PROBES = np.array([0, 1, 97, 211, 419, 601, 773, BLOCK - 1])
BATCH = 4096  # block pairs compared one by one at once (two 3.4 MB temporaries)
MIN_BLOCKS = 3  # shorter views have no repeated blocks worth dropping


def collapse(data: bytes) -> bytes:
    """``data`` with long runs of one byte cut and repeated blocks dropped (``data`` itself when
    there are none)."""
    return _drop_repeated_blocks(_cut_runs(data))


def _cut_runs(data: bytes) -> bytes:
    if len(data) < RUN_KEEP + (SPAN + 1) * STRIDE:
        return data
    samples = np.frombuffer(data, dtype=np.uint8)[::STRIDE]
    eq = samples[1:] == samples[:-1]
    span = eq[: len(eq) - SPAN + 1].copy()
    for k in range(1, SPAN):
        span &= eq[k : len(eq) - SPAN + 1 + k]
    cand = np.flatnonzero(span)
    if not len(cand):
        return data
    breaks = np.flatnonzero(np.diff(cand) != 1)
    firsts = cand[np.concatenate(([0], breaks + 1))].tolist()
    lasts = cand[np.concatenate((breaks, [len(cand) - 1]))].tolist()
    pieces: list[bytes] = []
    kept_to = 0  # data[:kept_to] is decided
    for first, last in zip(firsts, lasts, strict=True):
        # the samples just outside a cluster differ from it: its runs end within a stride each way
        lo = max(kept_to, (first - 1) * STRIDE + 1)
        hi = min(len(data), (last + SPAN + 1) * STRIDE)
        value = data[first * STRIDE : first * STRIDE + 1]
        longer = value * (RUN_KEEP + 1)
        if data.find(longer, lo, hi) < 0:  # equal samples, no long run (text: "FFFF" in qualities)
            continue
        runs = _value_runs(data, value, lo, hi) if hi - lo <= SMALL_SPAN else _long_runs(data, lo, hi)
        for start, end in runs:
            pieces.append(data[kept_to : start + RUN_KEEP])
            kept_to = end
    if not pieces:
        return data
    pieces.append(data[kept_to:])
    return b"".join(pieces)


def _long_runs(data: bytes, lo: int, hi: int) -> list[tuple[int, int]]:
    """(start, end) of the runs of one byte value longer than RUN_KEEP in ``data[lo:hi]``."""
    value = data[lo + RUN_KEEP : lo + RUN_KEEP + 1]
    head = data[lo : lo + RUN_KEEP].rstrip(value)
    if data.count(value, lo + RUN_KEEP, hi) == hi - lo - RUN_KEEP:  # one run to the end: a bomb, in C
        return [(lo + len(head), hi)] if hi - lo - len(head) > RUN_KEEP else []
    out: list[tuple[int, int]] = []
    open_start = lo  # start of the run still open at the chunk's start
    for s in range(lo, hi, RUN_CHUNK):
        e = min(hi, s + RUN_CHUNK)
        a = np.frombuffer(data, dtype=np.uint8, count=e - s + 1, offset=s - 1) if s > lo else \
            np.frombuffer(data, dtype=np.uint8, count=e - s, offset=s)
        change = np.flatnonzero(a[1:] != a[:-1]) + (s if s > lo else s + 1)
        starts = np.concatenate(([open_start], change))
        ends = np.concatenate((change, [e]))
        closed = (ends - starts)[:-1] > RUN_KEEP
        out.extend(zip(starts[:-1][closed].tolist(), ends[:-1][closed].tolist(), strict=True))
        open_start = int(starts[-1])
    if hi - open_start > RUN_KEEP:
        out.append((open_start, hi))
    return out


def _value_runs(data: bytes, value: bytes, lo: int, hi: int) -> list[tuple[int, int]]:
    """``_long_runs`` of a short stretch around a cluster of samples equal to ``value`` (zero padding
    in a datagram): a run of another value that long would hold a sample, so only runs of ``value``
    are looked for, by ``bytes.find`` in C."""
    out: list[tuple[int, int]] = []
    longer = value * (RUN_KEEP + 1)
    run = _RUN_OF.get(value)
    if run is None:
        run = _RUN_OF[value] = re.compile(re.escape(value) + b"+")
    at = data.find(longer, lo, hi)
    while at >= 0:
        end = run.match(data, at, hi).end()  # no copy: each byte is read once
        out.append((at, end))
        at = data.find(longer, end, hi)
    return out


def _drop_repeated_blocks(data: bytes) -> bytes:
    n = len(data) // BLOCK
    if n < MIN_BLOCKS:
        return data
    blocks = np.frombuffer(data, dtype=np.uint8, count=n * BLOCK).reshape(n, BLOCK)
    probes = blocks[:, PROBES]
    cand = np.flatnonzero((probes[1:] == probes[:-1]).all(axis=1)) + 1
    if not len(cand):
        return data
    drop = np.zeros(n, dtype=bool)
    # runs of consecutive candidates: one memcmp tells whether the whole run repeats its first block
    breaks = np.flatnonzero(np.diff(cand) != 1) + 1
    mixed = []
    for run in np.split(cand, breaks):
        first, last = int(run[0]), int(run[-1])
        if data[(first - 1) * BLOCK : last * BLOCK] == data[first * BLOCK : (last + 1) * BLOCK]:
            drop[first : last + 1] = True
        else:
            mixed.append(run)
    rows_left = np.concatenate(mixed) if mixed else cand[:0]
    for i in range(0, len(rows_left), BATCH):
        rows = rows_left[i : i + BATCH]
        drop[rows] = (blocks[rows] == blocks[rows - 1]).all(axis=1)
    if not drop.any():
        return data
    return blocks[~drop].tobytes() + data[n * BLOCK :]
