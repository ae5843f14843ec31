"""Byte fingerprints: winnowing over k-gram hashes, vectorised with numpy.

Winnowing (Schleimer, Wilkerson, Aiken 2003) hashes every K-byte k-gram and keeps the minimum hash
of every window of W consecutive k-grams.  Any common substring of at least ``GUARANTEE`` =
W + K - 1 bytes contains a whole window, so both sides keep that window's minimum: a leaked fragment
of >= 256 bytes of any indexed stream is always found, whatever its offset.

Low-information k-grams (runs of one byte, zero blocks, short repeats such as ``CAGCAGCAG`` or
``\\x00\\x01\\x00\\x01``) get the hash ``LOW_INFO`` before the minimum is taken, so they are never
selected and never count as evidence; a window made only of them selects nothing.  Index and query
apply the same rule, so the guarantee holds for every fragment with informative content.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

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
# minimum pass gives the fingerprint's place too.
POS_BITS = 20
# Bytes hashed per numpy pass: ~1 MiB keeps every temporary (8 bytes per input byte) near 8 MiB,
# and a pass (CHUNK + GUARANTEE - 1 bytes) has positions below 2**POS_BITS.
CHUNK = (1 << POS_BITS) - GUARANTEE
LOW_INFO = np.uint64(0xFFFFFFFFFFFFFFFF)
# Windows per step inside a pass: its few 8-byte temporaries (~2 MiB) stay in the L2 cache, where
# numpy passes run 3-4x faster than over a whole 1 MiB pass (8 MiB per temporary).  Results do not
# depend on it: hashes are position-free and every window is computed whole inside one step.
BLOCK = 1 << 15

_BASE = 0x100000001B3  # odd multiplier (FNV-64 prime): invertible modulo 2**64
_INV = pow(_BASE, -1, 1 << 64)
_U64 = np.uint64
_POS_MASK = _U64((1 << POS_BITS) - 1)
_HIGH_MASK = _U64(0xFFFFFFFFFFFFFFFF ^ ((1 << POS_BITS) - 1))


def _powers(base: int, n: int) -> np.ndarray:
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)  # wraps modulo 2**64, as wanted


_POW = _powers(_BASE, CHUNK + GUARANTEE)
_INVPOW = _powers(_INV, CHUNK + GUARANTEE)
_POS = np.arange(CHUNK + GUARANTEE, dtype=np.uint64)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the whole word (so low bits are usable)."""
    x = x ^ (x >> _U64(30))
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


def kgram_hashes(buf: np.ndarray) -> np.ndarray:
    """Hash of every K-byte k-gram of ``buf`` (uint8, len <= CHUNK + GUARANTEE), position-free.

    Polynomial hash sum(b[i+t] * B**t) from one prefix sum: (P[i+K] - P[i]) * B**-i, then mixed.
    """
    n = len(buf)
    if n < K:
        return np.empty(0, dtype=np.uint64)
    prefix = np.multiply(buf, _POW[:n], dtype=np.uint64)  # widening and weighting in one pass
    np.cumsum(prefix, out=prefix)
    m = n - K + 1
    h = np.empty(m, dtype=np.uint64)
    h[0] = prefix[K - 1]
    np.subtract(prefix[K:], prefix[: n - K], out=h[1:])
    h *= _INVPOW[:m]
    tmp = prefix[:m]  # the prefix sums are spent: reuse their memory for the shifts
    np.right_shift(h, _U64(29), out=tmp)
    h ^= tmp
    h *= _U64(0xBF58476D1CE4E5B9)
    np.right_shift(h, _U64(32), out=tmp)
    h ^= tmp
    return h


def low_info(buf: np.ndarray) -> np.ndarray:
    """True for every k-gram that repeats with a short period (at most LOW_INFO_MISMATCHES breaks)."""
    m = len(buf) - K + 1
    bad = np.zeros(m, dtype=bool)
    breaks = np.empty(len(buf), dtype=np.int32)
    breaks[0] = 0
    for p in LOW_INFO_PERIODS:
        np.cumsum(buf[p:] != buf[:-p], out=breaks[1: len(buf) - p + 1])
        # pairs (j, j+p) inside k-gram i: j in [i, i + K - p)
        bad |= (breaks[K - p: K - p + m] - breaks[:m]) <= LOW_INFO_MISMATCHES[p]
    return bad


# Byte pairs (t, t + p) inside a k-gram, every period together: a low-information k-gram has, for
# one period p, at least K - p - LOW_INFO_MISMATCHES[p] equal pairs, so at least _PAIRS_NEEDED in
# all; random data has ~1 and text ~15 of the 220, so one sum rejects nearly every k-gram at once.
_PAIR_A = np.concatenate([np.arange(K - p) for p in LOW_INFO_PERIODS])
_PAIR_B = np.concatenate([np.arange(p, K) for p in LOW_INFO_PERIODS])
_PAIRS_NEEDED = min(K - p - LOW_INFO_MISMATCHES[p] for p in LOW_INFO_PERIODS)


def low_info_at(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``low_info(buf)[pos]`` computed only at ``pos``: the k-grams gathered as K rows (row t =
    byte t of every k-gram); the per-period test runs only on those with enough equal pairs."""
    buf = np.ascontiguousarray(buf)
    windows = np.ndarray((len(buf) - K + 1, K), np.uint8, buffer=buf, strides=(1, 1))  # no copy
    grams = np.ascontiguousarray(windows[pos].T)
    equal = np.equal(grams[_PAIR_A], grams[_PAIR_B]).sum(axis=0, dtype=np.uint8)
    maybe = np.flatnonzero(equal >= _PAIRS_NEEDED)
    bad = np.zeros(len(pos), dtype=bool)
    if not len(maybe):
        return bad
    grams = grams[:, maybe]
    sub = np.zeros(len(maybe), dtype=bool)
    for p in LOW_INFO_PERIODS:
        sub |= np.not_equal(grams[p:], grams[:-p]).sum(axis=0, dtype=np.uint8) <= LOW_INFO_MISMATCHES[p]
    bad[maybe] = sub
    return bad


def sliding_min(values: np.ndarray, w: int) -> np.ndarray:
    """Minimum of every window of w values: doubling to a power-of-two span, then two overlapping spans."""
    span = 1
    m = values
    while span * 2 <= w:
        m = np.minimum(m[:-span], m[span:])
        span *= 2
    count = len(values) - w + 1
    return np.minimum(m[:count], m[w - span: w - span + count])


_KEY_CAP = _HIGH_MASK ^ _U64(1 << POS_BITS)  # highest key prefix below "low information"


def _step(buf: np.ndarray, s: int, e: int, w: int,
          masked: bool) -> tuple[np.ndarray, np.ndarray, np.uint64, np.uint64]:
    """Winnowing of the windows starting in [s, e): (hashes, positions, first minimum, last minimum).

    The first window's minimum is kept even if the previous step ended on it (``winnow`` drops it
    then); with ``masked``, low-information k-grams are keyed highest first.
    """
    piece = buf[s: e + w + K - 2]  # k-grams s .. e + w - 2: every window starting in [s, e)
    h = kgram_hashes(piece)
    keys = np.bitwise_and(h, _HIGH_MASK)
    np.minimum(keys, _KEY_CAP, out=keys)  # keep the top key free for "low information"
    keys |= _POS[s: s + len(h)]
    if masked:
        keys[low_info(piece)] = LOW_INFO
    mins = sliding_min(keys, w)
    first = np.empty(len(mins), dtype=bool)
    first[0] = True
    np.not_equal(mins[1:], mins[:-1], out=first[1:])  # a minimum that leaves the window never comes back
    chosen = mins[first]
    chosen = chosen[(chosen & _HIGH_MASK) != _HIGH_MASK]
    pos = (chosen & _POS_MASK).astype(np.int64)
    return h[pos - s], pos, mins[0], mins[-1]


def winnow(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, positions) of the fingerprints of ``buf``: every window's minimum k-gram hash.

    Minima are taken over (hash prefix | position) keys, low-information k-grams keyed highest and
    dropped.  Low information is tested first only at the chosen places: when none of them is low
    (random or compressed content) the masked winnowing picks the same set, so the full test runs
    only on content that has runs or repeats.  Data shorter than one window keeps its minimum, so
    short views still match short files.  Windows are taken BLOCK at a time (each step hashes the
    W + K - 2 bytes it shares with the next again); a step whose chosen places are all informative
    already has its masked minima, so only the others are redone with the mask.
    """
    m = len(buf) - K + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    w = min(W, m)
    windows = m - w + 1
    starts = range(0, windows, BLOCK)
    steps = [_step(buf, s, min(s + BLOCK, windows), w, False) for s in starts]
    places = steps[0][1] if len(steps) == 1 else np.concatenate([st[1] for st in steps])
    if len(places):
        low = low_info_at(buf, places)
        if low.any():
            dirty = np.zeros(len(steps), dtype=bool)
            if len(steps) == 1:
                dirty[0] = True
            else:
                ends = np.cumsum([len(st[1]) for st in steps])
                dirty[np.searchsorted(ends, np.flatnonzero(low), side="right")] = True
            for n in np.flatnonzero(dirty).tolist():
                steps[n] = _step(buf, starts[n], min(starts[n] + BLOCK, windows), w, True)
    hashes, positions = [], []
    prev = None
    for h, pos, first, last in steps:
        if prev is not None and first == prev and (first & _HIGH_MASK) != _HIGH_MASK:
            h, pos = h[1:], pos[1:]  # the previous step's last minimum, already chosen there
        hashes.append(h)
        positions.append(pos)
        prev = last
    if len(steps) == 1:
        return hashes[0], positions[0]
    return np.concatenate(hashes), np.concatenate(positions)


class Winnower:
    """Streaming winnowing over a byte stream fed in blocks of any size.

    Consecutive passes overlap by GUARANTEE - 1 bytes so every window lies wholly inside one pass;
    a fingerprint seen by two passes is reported twice and removed by ``finish``.
    """

    SPAN = CHUNK + GUARANTEE - 1  # bytes per pass

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._base = 0  # stream offset of the first pending byte
        self._passes = 0
        self.length = 0
        self._hashes: list[np.ndarray] = []
        self._offsets: list[np.ndarray] = []

    def feed(self, block: bytes) -> None:
        self.length += len(block)
        self._pending.append(block)
        self._pending_len += len(block)
        if self._pending_len >= self.SPAN:
            self._run(final=False)

    def _pass(self, piece: bytes, offset: int) -> None:
        h, pos = winnow(np.frombuffer(piece, dtype=np.uint8))
        self._hashes.append(h)
        self._offsets.append(pos + offset)
        self._passes += 1

    def _run(self, final: bool) -> None:
        data = b"".join(self._pending)
        start = 0
        while len(data) - start >= self.SPAN:
            self._pass(data[start: start + self.SPAN], self._base + start)
            start += CHUNK
        rest = data[start:]
        if final and rest and (len(rest) > GUARANTEE - 1 or not self._passes):
            self._pass(rest, self._base + start)
        self._pending, self._pending_len = [rest], len(rest)
        self._base += start

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """All fingerprints of the stream: (hashes uint64, offsets uint64), one per (hash, offset)."""
        self._run(final=True)
        self._pending, self._pending_len = [], 0
        if not self._hashes:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint64)
        h = np.concatenate(self._hashes)
        off = np.concatenate(self._offsets).astype(np.uint64)
        order = np.lexsort((h, off))
        h, off = h[order], off[order]
        keep = np.ones(len(h), dtype=bool)
        keep[1:] = (off[1:] != off[:-1]) | (h[1:] != h[:-1])
        return h[keep], off[keep]


def fingerprints(blocks: Iterable[bytes]) -> tuple[np.ndarray, np.ndarray, int]:
    """(hashes, offsets, stream length) of a stream given as blocks."""
    w = Winnower()
    for block in blocks:
        w.feed(block)
    h, off = w.finish()
    return h, off, w.length


def iter_views(data: bytes) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Fingerprints of one in-memory view, pass by pass (offsets are view offsets)."""
    start = 0
    while True:
        piece = data[start: start + CHUNK + GUARANTEE - 1]
        h, pos = winnow(np.frombuffer(piece, dtype=np.uint8))
        yield h, pos + start
        if start + len(piece) >= len(data):
            return
        start += CHUNK
