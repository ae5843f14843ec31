"""Byte fingerprints: winnowing over k-gram hashes, computed by the compiled kernels.

Winnowing (Schleimer, Wilkerson, Aiken 2003) hashes every K-byte k-gram and keeps the minimum hash
of every window of W consecutive k-grams.  Any common substring of at least ``GUARANTEE`` =
W + K - 1 bytes contains a whole window, so both sides keep that window's minimum: a leaked fragment
of >= 256 bytes of any indexed stream is always found, whatever its offset.

Low-information k-grams (runs of one byte, zero blocks, short repeats such as ``CAGCAGCAG`` or
``\\x00\\x01\\x00\\x01``) are keyed highest before the minimum is taken, so they are never
selected and never count as evidence; a window made only of them selects nothing.  Index and query
apply the same rule, so the guarantee holds for every fragment with informative content.

The per-byte work is in ``_kernels.c`` (without the GIL); ``tests/index/oracle.py`` holds the
numpy definition every result is tested against.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _kernels

K = 32  # k-gram bytes: long enough that a shared k-gram is not chance (text words are shorter)
GUARANTEE = 256  # bytes: a common substring this long always shares a fingerprint
W = GUARANTEE - K + 1  # k-grams per window (225): W + K - 1 == GUARANTEE
DENSITY = 2.0 / (W + 1)  # expected fingerprints per byte of random content (winnowing paper)
# Periods (bytes) a low-information k-gram may repeat with: byte runs up to 8-byte records/patterns.
LOW_INFO_PERIODS = tuple(range(1, 9))
# A k-gram counts as periodic when at most this many of its byte pairs break the period.  Period 1
# allows 8 breaks (up to 4 odd bytes in 32): binned quality strings "FFFF:FFFFFFF,FFFF" are the
# same in every lab's FASTQ and must not match; random data has ~31 breaks, DNA text ~23.
LOW_INFO_MISMATCHES = {1: 8} | {p: 3 for p in LOW_INFO_PERIODS[1:]}
# Window minima compare (hash prefix | position in pass): the low bits name the position, so one
# comparison orders by hash and breaks ties by place.
POS_BITS = 20
# Bytes a pass advances: a pass (CHUNK + GUARANTEE - 1 bytes) has positions below 2**POS_BITS.
CHUNK = (1 << POS_BITS) - GUARANTEE
SPAN = CHUNK + GUARANTEE - 1  # bytes per pass: consecutive passes share GUARANTEE - 1 bytes
# Fingerprints a pass is first given room for: random content has one per ~113 bytes, content
# repeating with a period of P bytes one per P (periods up to 8 are low information); a pass with
# more (crafted input) is run again with room for all of them.
ROOM_BYTES_PER_FINGERPRINT = 8
# A view of at least this many passes is winnowed on up to MAX_THREADS threads at once.
PARALLEL_MIN_PASSES = 4
MAX_THREADS = 4

if (_kernels.K, _kernels.W, _kernels.POS_BITS, _kernels.PERIODS, _kernels.BREAKS_P1, _kernels.BREAKS) != (
        K, W, POS_BITS, len(LOW_INFO_PERIODS), LOW_INFO_MISMATCHES[1], LOW_INFO_MISMATCHES[2]):
    raise ImportError("sandbox.index._kernels was built from another version of _kernels.c: run `make setup`")

_U64 = np.uint64


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the whole word (so low bits are usable)."""
    x = x ^ (x >> _U64(30))
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


def kgram_hashes(data: bytes | np.ndarray) -> np.ndarray:
    """Hash of every K-byte k-gram of ``data`` (uint64), position-free."""
    out = np.empty(max(len(data) - K + 1, 0), dtype=np.uint64)
    _kernels.kgram_hashes(data, out)
    return out


def winnow(data: bytes | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint64, positions int64) of the fingerprints of one pass (< 2**POS_BITS bytes): every
    window's minimum k-gram hash, once each.  Data shorter than one window keeps its minimum, so
    short views still match short files."""
    room = len(data) // ROOM_BYTES_PER_FINGERPRINT + 16
    while True:
        hashes = np.empty(room, dtype=np.uint64)
        positions = np.empty(room, dtype=np.int64)
        count = _kernels.winnow(data, hashes, positions)
        if count <= room:
            return hashes[:count].copy(), positions[:count].copy()
        room = count


class Winnower:
    """Streaming winnowing over a byte stream fed in blocks of any size.

    Consecutive passes overlap by GUARANTEE - 1 bytes, so every window lies wholly inside exactly
    one pass; the first fingerprint of a pass may be the last one of the pass before (the same
    k-gram, the minimum of the windows either side of the seam), and is then dropped.  Offsets come
    out ascending; ``take`` hands over what is final so far, so memory stays that of one pass.
    """

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._base = 0  # stream offset of the first pending byte
        self._passes = 0
        self._last: tuple[int, int] | None = None  # (offset, hash) of the last fingerprint given
        self.length = 0
        self._hashes: list[np.ndarray] = []
        self._offsets: list[np.ndarray] = []

    def feed(self, block: bytes) -> None:
        self.length += len(block)
        self._pending.append(block)
        self._pending_len += len(block)
        if self._pending_len >= SPAN:
            self._run(final=False)

    def _pass(self, piece: bytes, offset: int) -> None:
        h, pos = winnow(piece)
        off = pos.astype(np.uint64) + np.uint64(offset)
        if self._last is not None and len(h) and (int(off[0]), int(h[0])) == self._last:
            h, off = h[1:], off[1:]
        if len(h):
            self._last = (int(off[-1]), int(h[-1]))
            self._hashes.append(h)
            self._offsets.append(off)
        self._passes += 1

    def _run(self, final: bool) -> None:
        data = memoryview(b"".join(self._pending))  # slices of it are passes, not copies
        start = 0
        while len(data) - start >= SPAN:
            self._pass(data[start: start + SPAN], self._base + start)
            start += CHUNK
        rest = data[start:]
        if final and len(rest) and (len(rest) > GUARANTEE - 1 or not self._passes):
            self._pass(rest, self._base + start)
        self._pending, self._pending_len = [bytes(rest)], len(rest)
        self._base += start

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """Fingerprints of the passes done since the last call: (hashes uint64, offsets uint64)."""
        h, off = _joined(self._hashes), _joined(self._offsets)
        self._hashes, self._offsets = [], []
        return h, off

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """The rest of the stream's fingerprints (all of them if ``take`` was never called)."""
        self._run(final=True)
        self._pending, self._pending_len = [], 0
        return self.take()


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=np.uint64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def fingerprints(blocks: Iterable[bytes]) -> tuple[np.ndarray, np.ndarray, int]:
    """(hashes, offsets, stream length) of a stream given as blocks."""
    w = Winnower()
    for block in blocks:
        w.feed(block)
    h, off = w.finish()
    return h, off, w.length


def view_fingerprints(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints of one in-memory view of any length: (hashes uint64, view offsets int64; a
    fingerprint on the seam of two passes may come twice).  Its passes are winnowed side by side
    (the kernel runs without the GIL): the last body piece of an upload, matched after the upload's
    last byte, is what a finding waits for."""
    view = memoryview(data)
    starts = range(0, max(len(data) - GUARANTEE + 1, 1), CHUNK)
    if len(starts) < PARALLEL_MIN_PASSES:
        parts = [winnow(view[s: s + SPAN]) for s in starts]
    else:
        parts = list(_pool().map(lambda s: winnow(view[s: s + SPAN]), starts))
    return (np.concatenate([h for h, _ in parts]),
            np.concatenate([pos + s for (_, pos), s in zip(parts, starts, strict=True)]))


_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _pool() -> ThreadPoolExecutor:
    """Threads for the passes of large views (as many as the cores this process may use, up to
    ``MAX_THREADS``), made on first use in each process: a pool inherited through fork has no
    threads behind it."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=min(MAX_THREADS, cores), thread_name_prefix="winnow"))
    return _POOL[1]
