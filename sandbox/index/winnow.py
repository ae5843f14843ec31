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
    prefix = buf.astype(np.uint64)
    np.multiply(prefix, _POW[:n], out=prefix)
    np.cumsum(prefix, out=prefix)
    h = prefix[K - 1:].copy()
    h[1:] -= prefix[: n - K]
    h *= _INVPOW[: n - K + 1]
    h ^= h >> _U64(29)
    h *= _U64(0xBF58476D1CE4E5B9)
    h ^= h >> _U64(32)
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


def low_info_at(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``low_info(buf)[pos]`` computed only at ``pos`` (a few k-grams: one small 2-D pass)."""
    grams = np.lib.stride_tricks.sliding_window_view(buf, K)[pos]
    bad = np.zeros(len(pos), dtype=bool)
    for p in LOW_INFO_PERIODS:
        bad |= (grams[:, p:] != grams[:, :-p]).sum(axis=1) <= LOW_INFO_MISMATCHES[p]
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


def _select(h: np.ndarray, keys: np.ndarray) -> np.ndarray:
    w = min(W, len(h))
    mins = sliding_min(keys, w)
    first = np.ones(len(mins), dtype=bool)
    first[1:] = mins[1:] != mins[:-1]  # a minimum that leaves the window never comes back
    chosen = mins[first]
    chosen = chosen[(chosen & _HIGH_MASK) != _HIGH_MASK]
    return (chosen & _POS_MASK).astype(np.int64)


def winnow(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, positions) of the fingerprints of ``buf``: every window's minimum k-gram hash.

    Minima are taken over (hash prefix | position) keys, low-information k-grams keyed highest and
    dropped.  Low information is tested first only at the chosen places: when none of them is low
    (random or compressed content) the masked winnowing picks the same set, so the full test runs
    only on content that has runs or repeats.  Data shorter than one window keeps its minimum, so
    short views still match short files.
    """
    h = kgram_hashes(buf)
    if not len(h):
        return h, np.empty(0, dtype=np.int64)
    keys = h & _HIGH_MASK
    keys[keys == _HIGH_MASK] ^= _U64(1 << POS_BITS)  # keep the top key free for "low information"
    keys |= _POS[: len(h)]
    pos = _select(h, keys)
    if len(pos) and low_info_at(buf, pos).any():
        keys[low_info(buf)] = LOW_INFO
        pos = _select(h, keys)
    return h[pos], pos


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
