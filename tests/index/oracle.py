"""The numpy definitions the compiled kernels (sandbox/index/_kernels.c) are tested against.

Written for clarity over a whole buffer at once, not for speed: what each kernel must return.
"""

from __future__ import annotations

import numpy as np

from sandbox.index import kmers as km
from sandbox.index import winnow as wn

_U64 = np.uint64
_BASE = 0x100000001B3  # the k-gram hash's multiplier (FNV-64 prime), odd: invertible modulo 2**64
_HIGH_MASK = _U64(0xFFFFFFFFFFFFFFFF ^ ((1 << wn.POS_BITS) - 1))
_KEY_CAP = _HIGH_MASK ^ _U64(1 << wn.POS_BITS)
LOW_INFO = _U64(0xFFFFFFFFFFFFFFFF)


def _powers(base: int, n: int) -> np.ndarray:
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)  # wraps modulo 2**64, as wanted


def kgram_hashes(buf: np.ndarray) -> np.ndarray:
    """sum(b[i+t] * BASE**t) over the k-gram, from one prefix sum, then mixed (xor-shift, multiply)."""
    n = len(buf)
    if n < wn.K:
        return np.empty(0, dtype=np.uint64)
    prefix = np.cumsum(np.multiply(buf, _powers(_BASE, n), dtype=np.uint64), dtype=np.uint64)
    m = n - wn.K + 1
    h = np.empty(m, dtype=np.uint64)
    h[0] = prefix[wn.K - 1]
    np.subtract(prefix[wn.K:], prefix[: n - wn.K], out=h[1:])
    h *= _powers(pow(_BASE, -1, 1 << 64), m)
    h ^= h >> _U64(29)
    h *= _U64(0xBF58476D1CE4E5B9)
    h ^= h >> _U64(32)
    return h


def low_info(buf: np.ndarray) -> np.ndarray:
    """True for every k-gram that repeats with a short period (at most LOW_INFO_MISMATCHES breaks)."""
    m = len(buf) - wn.K + 1
    bad = np.zeros(max(m, 0), dtype=bool)
    if m <= 0:
        return bad
    breaks = np.zeros(len(buf) + 1, dtype=np.int32)
    for p in wn.LOW_INFO_PERIODS:
        breaks[1: len(buf) - p + 1] = np.cumsum(buf[p:] != buf[:-p])
        # pairs (j, j+p) inside k-gram i: j in [i, i + K - p)
        bad |= (breaks[wn.K - p: wn.K - p + m] - breaks[:m]) <= wn.LOW_INFO_MISMATCHES[p]
    return bad


def winnow(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every window's minimum key (hash prefix | position; low information highest), each distinct
    minimum once, low-information ones dropped."""
    h = kgram_hashes(buf)
    if not len(h):
        return h, np.empty(0, dtype=np.int64)
    keys = np.minimum(h & _HIGH_MASK, _KEY_CAP) | np.arange(len(h), dtype=np.uint64)
    keys[low_info(buf)] = LOW_INFO
    mins = np.lib.stride_tricks.sliding_window_view(keys, min(wn.W, len(h))).min(axis=1)
    first = np.concatenate(([True], mins[1:] != mins[:-1]))
    chosen = mins[first]
    pos = (chosen[chosen != LOW_INFO] & ~_HIGH_MASK).astype(np.int64)
    return h[pos], pos


def canonical(seq: bytes, k: int = km.K) -> tuple[np.ndarray, np.ndarray]:
    """min(forward, reverse complement) 2-bit packing of every window made only of ACGT/acgt."""
    code = np.full(256, 4, dtype=np.uint8)
    for i, c in enumerate(b"ACGT"):
        code[c] = code[c + 32] = i
    codes = code[np.frombuffer(seq, dtype=np.uint8)]
    if len(codes) < k:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    ok = (windows < 4).all(axis=1)
    weights = _U64(4) ** np.arange(k - 1, -1, -1, dtype=np.uint64)
    fwd = (windows[ok].astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    rev = ((3 - windows[ok][:, ::-1]).astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return np.minimum(fwd, rev), np.flatnonzero(ok)


def evidence_mask(kmers: np.ndarray, k: int = km.K) -> np.ndarray:
    """Not near-periodic (period <= LC_PERIODS with <= LC_MISMATCHES broken bases), not of low
    composition entropy, not an adapter's k-mer."""
    bad = np.zeros(len(kmers), dtype=bool)
    odd = _U64(int("01" * k, 2))
    for p in km.LC_PERIODS:
        diff = (kmers ^ (kmers >> _U64(2 * p))) & _U64((1 << (2 * (k - p))) - 1)
        bad |= np.bitwise_count((diff | (diff >> _U64(1))) & odd) <= km.LC_MISMATCHES
    lo, hi = kmers & odd, (kmers >> _U64(1)) & odd
    a = np.bitwise_count(~(lo | hi) & odd).astype(np.intp)
    c = np.bitwise_count(lo & ~hi).astype(np.intp)
    g = np.bitwise_count(hi & ~lo).astype(np.intp)
    t = k - a - c - g
    counts = np.stack([a, c, g, t]).astype(np.float64) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(counts > 0, counts * np.log2(counts), 0.0).sum(axis=0)
    bad |= entropy < km.LC_ENTROPY
    return ~bad & ~np.isin(kmers, km.ADAPTER_KMERS)


def read_windows(kmers: np.ndarray, starts: np.ndarray, run_starts: np.ndarray, found: np.ndarray, k: int,
                 window: int, need: int, min_share: float, max_hash: int) -> tuple[int, int, int, np.ndarray]:
    """(good windows of the first tiling with any, bases covered, first offset or -1, confirmed mask):
    per tiling (shift 0 and window // 2 within each run) a window is good when its distinct
    considered k-mers (evidence, hash <= max_hash; told apart by 40 hash bits and the found flag)
    hold >= need found ones and >= min_share of them found; the found k-mers of good windows are
    confirmed."""
    run = np.searchsorted(run_starts, starts, side="right") - 1
    considered = evidence_mask(kmers, k) & (wn.mix64(kmers.copy()) <= _U64(max_hash))
    tag = (wn.mix64(kmers.copy()) & _U64((1 << 40) - 1)) << _U64(2)
    tag |= (found.astype(np.uint64) << _U64(1)) | considered.astype(np.uint64)
    confirmed = np.zeros(len(kmers), dtype=bool)
    windows = 0
    for shift in (0, window // 2):
        wid = run * (1 << 32) + (starts - run_starts[run] + shift) // window
        good_count = 0
        for w in np.unique(wid):
            inside = wid == w
            keys = np.unique(tag[inside])
            keys = keys[(keys & _U64(1)).astype(bool)]
            hits = int(((keys >> _U64(1)) & _U64(1)).sum())
            if hits >= need and hits >= min_share * len(keys):
                good_count += 1
                confirmed |= inside & found
        windows = windows or good_count
    covered = np.zeros(int(starts.max()) + k + 1 if len(starts) else 0, dtype=bool)
    for s in starts[confirmed].tolist():
        covered[s:s + k] = True
    first = int(starts[confirmed].min()) if confirmed.any() else -1
    return windows, int(covered.sum()), first, confirmed
