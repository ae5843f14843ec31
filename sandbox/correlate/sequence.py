"""DNA evidence in a view: which read-sized windows of its ACGT runs are made of the run's k-mers.

A window counts when enough of its distinct k-mers are in the run (exact index: >= MIN_KMERS and
>= MIN_SHARE of them; sampled index: >= SCALED_MIN_KMERS sampled ones).  Two tilings half a window
apart make sure a read anywhere in a long run lies mostly inside one window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sandbox.index.kmers import (
    DnaRuns,
    K,
    canonical,
    dna_runs,
    evidence_mask,
    kmer_hash,
    sorted_unique,
)
from sandbox.index.kmerset import max_hash
from sandbox.index.runindex import SCALED_MIN_KMERS, RunIndex

WINDOW = 200  # k-mer starts per window: one short read (150 bp -> 120 k-mers) and some slack
MIN_KMERS = 20  # distinct matching k-mers a window needs: a 50-base stretch of one read
MIN_SHARE = 0.3  # of the window's informative k-mers: unrelated sequence sharing a few stays out
_RUN_STRIDE = 1 << 32  # window ids: run number * stride + window number
_PAIR_HASH = np.uint64((1 << 40) - 1)  # k-mer hash bits in a (window, k-mer) key: no collision in a window
# Every this many k-mers one is looked up first: any 8 consecutive ones hold a probe, so a read's
# exact 38-base stretch (8 k-mers; MIN_KMERS needs 50 bases) always gets every k-mer looked up.
PROBE_STRIDE = 8


@dataclass
class ViewKmers:
    """The canonical k-mers of one view's DNA runs (positions in the runs' joined buffer)."""

    kmers: np.ndarray
    runs: DnaRuns
    _starts: np.ndarray | None = field(default=None, repr=False)
    _wid: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _place: tuple[np.ndarray, np.ndarray] = field(default=(np.empty(0), np.empty(0)), repr=False)

    @property
    def starts(self) -> np.ndarray:
        """Offset of each k-mer in ``runs.joined``: computed only for a view with hits (most DNA
        sent is not the run's, and then the offsets are never needed)."""
        if self._starts is None:
            self._starts = canonical(self.runs.joined, K)[1]
        return self._starts

    def window_ids(self, shift: int) -> np.ndarray:
        """Window of every k-mer in the tiling shifted by ``shift``: run number * stride + window
        number in the run (ascending along the view); computed once per tiling."""
        if shift not in self._wid:
            if not self._wid:
                run = self.runs.run_of(self.starts)
                self._place = (run * _RUN_STRIDE, self.starts - self.runs.starts[run])
            base, within = self._place
            self._wid[shift] = base + (within + shift) // WINDOW
        return self._wid[shift]


_TILINGS = (0, WINDOW // 2)


def view_kmers(data: bytes) -> ViewKmers | None:
    runs = dna_runs(data, K)
    if not len(runs):
        return None
    kmers, _ = canonical(runs.joined, K, starts=False)
    if not len(kmers):
        return None
    return ViewKmers(kmers, runs)


@dataclass
class SequenceHit:
    rows: np.ndarray  # rows of index.km confirmed by a hit window
    windows: int  # hit windows (tiling 0 and 1, counted once per read-sized stretch)
    bases: int  # bases of the view covered by confirmed k-mers
    first: int  # start of the first confirmed k-mer in the joined buffer (for evidence)


def _in_windows(wid: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """``np.isin(wid, windows)`` for ascending ``wid`` and sorted ``windows``: each window is a
    stretch of ``wid``, found by two binary searches and marked in one pass."""
    return _covered(np.searchsorted(wid, windows, "left"), np.searchsorted(wid, windows, "right"), len(wid))


def _covered(starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """Mask of the n places inside any of the ranges [starts, ends)."""
    edges = np.bincount(starts, minlength=n + 1) - np.bincount(ends, minlength=n + 1)
    return np.cumsum(edges[:n]) > 0


def _candidates(w: np.ndarray, need: int) -> np.ndarray:
    """Window ids (of the found k-mers, ascending) with at least ``need`` of them (repeats
    included: an upper bound)."""
    if not len(w):
        return w
    starts = np.flatnonzero(np.concatenate(([True], w[1:] != w[:-1])))
    counts = np.diff(np.append(starts, len(w)))
    return w[starts[counts >= need]]


def _looked_up(index: RunIndex, vk: ViewKmers) -> tuple[np.ndarray, np.ndarray]:
    """(found, row in ``index.km`` or -1) of the view's k-mers worth a lookup (rows empty when
    no probe was found).

    A sampled index holds only k-mers whose hash is below its threshold: only those are looked up.
    An exact one is probed every PROBE_STRIDE k-mers first; only near a probe that hits (two
    windows either side) is every k-mer looked up, so unrelated sequence costs one lookup in eight.
    """
    n = len(vk.kmers)
    if index.km_scale > 1:
        near = np.flatnonzero(kmer_hash(vk.kmers) <= max_hash(index.km_scale))
    else:
        probes = np.flatnonzero(index.lookup_kmers(vk.kmers[::PROBE_STRIDE])[0]) * PROBE_STRIDE
        if not len(probes):
            return np.zeros(n, dtype=bool), np.empty(0, dtype=np.int64)
        near = np.flatnonzero(_covered(np.maximum(probes - 2 * WINDOW, 0), np.minimum(probes + 2 * WINDOW + 1, n), n))
    found = np.zeros(n, dtype=bool)
    row_of = np.full(n, -1, dtype=np.int64)
    hit, rows = index.lookup_kmers(vk.kmers[near])
    found[near[hit]] = True
    row_of[near[hit]] = rows
    return found, row_of


def match(index: RunIndex, vk: ViewKmers) -> SequenceHit | None:
    """Read-sized windows of the view made of the run's k-mers (None if there are none).

    Only windows with enough raw hits are examined further (informative-k-mer filter, distinct
    counts), so unrelated sequence costs about one prefiltered lookup per PROBE_STRIDE k-mers.
    """
    sampled = index.km_scale > 1
    need = SCALED_MIN_KMERS if sampled else MIN_KMERS
    found_all, row_of_all = _looked_up(index, vk)
    if found_all.sum() < need:
        return None
    keep = np.zeros(len(vk.kmers), dtype=bool)
    for shift in _TILINGS:
        wid = vk.window_ids(shift)
        cand = _candidates(wid[found_all], need)
        if len(cand):
            keep |= _in_windows(wid, cand)
    sub = np.flatnonzero(keep)
    if not len(sub):
        return None
    kmers, found, row_of = vk.kmers[sub], found_all[sub], row_of_all[sub]
    considered = evidence_mask(kmers)
    if sampled:
        considered &= kmer_hash(kmers) <= max_hash(index.km_scale)
    confirmed = np.zeros(len(kmers), dtype=bool)
    windows = 0
    # Distinct (window, k-mer) pairs, so a k-mer repeated inside one read counts once: each k-mer
    # as one sortable key (window rank | 40-bit k-mer hash | found | considered; equal k-mers
    # share their flags), sorted once per tiling, equal keys side by side.
    tag = (kmer_hash(kmers) & _PAIR_HASH) << np.uint64(2)
    tag |= (found.astype(np.uint64) << np.uint64(1)) | considered.astype(np.uint64)
    for shift in _TILINGS:
        wid = vk.window_ids(shift)[sub]
        new_window = np.concatenate(([True], wid[1:] != wid[:-1]))  # view order: windows are runs
        uniq_w = wid[new_window]
        rank = (np.cumsum(new_window) - 1).astype(np.uint64)
        keys = np.sort((rank << np.uint64(42)) | tag)
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        keys = keys[(keys & np.uint64(1)).astype(bool)]  # considered ones
        if not len(keys):
            continue
        in_window = (keys >> np.uint64(42)).astype(np.int64)
        total = np.bincount(in_window, minlength=len(uniq_w))
        hits = np.bincount(in_window, weights=(keys >> np.uint64(1)) & np.uint64(1), minlength=len(uniq_w))
        good = (hits >= need) & (hits >= MIN_SHARE * total)
        if good.any():
            windows = windows or int(good.sum())  # read-sized stretches, counted on the first tiling
            confirmed |= _in_windows(wid, uniq_w[good]) & found
    if not confirmed.any():
        return None
    starts = vk.starts[sub][confirmed]
    size = int(starts.max()) + K + 1
    cover = np.bincount(starts, minlength=size) - np.bincount(starts + K, minlength=size)
    bases = int((np.cumsum(cover) > 0).sum())
    return SequenceHit(sorted_unique(row_of[confirmed]), windows, bases, int(starts.min()))
