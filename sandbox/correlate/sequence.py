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
    contains,
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
# Every this many k-mers one is looked up first: any 8 consecutive ones hold a probe, so a read's
# exact 38-base stretch (8 k-mers; MIN_KMERS needs 50 bases) always gets every k-mer looked up.
PROBE_STRIDE = 8


@dataclass
class ViewKmers:
    """The canonical k-mers of one view's DNA runs (positions in the runs' joined buffer)."""

    kmers: np.ndarray
    starts: np.ndarray  # offset of the k-mer in ``runs.joined``
    runs: DnaRuns
    _wid: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _place: tuple[np.ndarray, np.ndarray] = field(default=(np.empty(0), np.empty(0)), repr=False)

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
    kmers, starts = canonical(runs.joined, K)
    if not len(kmers):
        return None
    return ViewKmers(kmers, starts, runs)


@dataclass
class SequenceHit:
    rows: np.ndarray  # rows of index.km confirmed by a hit window
    windows: int  # hit windows (tiling 0 and 1, counted once per read-sized stretch)
    bases: int  # bases of the view covered by confirmed k-mers
    first: int  # start of the first confirmed k-mer in the joined buffer (for evidence)


def _in_windows(wid: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """``np.isin(wid, windows)`` for ascending ``wid`` and sorted ``windows``: each window is a
    stretch of ``wid``, found by two binary searches and marked in one pass."""
    edges = np.zeros(len(wid) + 1, dtype=np.int32)
    np.add.at(edges, np.searchsorted(wid, windows, "left"), 1)
    np.add.at(edges, np.searchsorted(wid, windows, "right"), -1)
    return np.cumsum(edges[:-1]) > 0


def _candidates(w: np.ndarray, need: int) -> np.ndarray:
    """Window ids (of the found k-mers, ascending) with at least ``need`` of them (repeats
    included: an upper bound)."""
    if not len(w):
        return w
    starts = np.flatnonzero(np.concatenate(([True], w[1:] != w[:-1])))
    counts = np.diff(np.append(starts, len(w)))
    return w[starts[counts >= need]]


def _looked_up(index: RunIndex, vk: ViewKmers) -> tuple[np.ndarray, np.ndarray]:
    """(found, row in ``index.km`` or -1) of the view's k-mers worth a lookup.

    A sampled index holds only k-mers whose hash is below its threshold: only those are looked up.
    An exact one is probed every PROBE_STRIDE k-mers first; only near a probe that hits (two
    windows either side) is every k-mer looked up, so unrelated sequence costs one lookup in eight.
    """
    n = len(vk.kmers)
    found = np.zeros(n, dtype=bool)
    row_of = np.full(n, -1, dtype=np.int64)
    if index.km_scale > 1:
        near = np.flatnonzero(kmer_hash(vk.kmers) <= max_hash(index.km_scale))
    else:
        probes = np.flatnonzero(index.lookup_kmers(vk.kmers[::PROBE_STRIDE])[0]) * PROBE_STRIDE
        if not len(probes):
            return found, row_of
        edges = np.zeros(n + 1, dtype=np.int64)
        np.add.at(edges, np.maximum(probes - 2 * WINDOW, 0), 1)
        np.add.at(edges, np.minimum(probes + 2 * WINDOW + 1, n), -1)
        near = np.flatnonzero(np.cumsum(edges[:-1]) > 0)
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
    # The k-mers seen more than once in these windows, side by side in view order (a stable sort of
    # just those): window ids grow along the view, so the repeats of a (window, k-mer) pair are
    # neighbours there.  One sort serves both tilings.
    value_sorted = np.sort(kmers)
    repeated = np.unique(value_sorted[1:][value_sorted[1:] == value_sorted[:-1]])
    twice = np.flatnonzero(contains(repeated, kmers)) if len(repeated) else np.empty(0, dtype=np.int64)
    by_kmer = twice[np.argsort(kmers[twice], kind="stable")]
    same_kmer = kmers[by_kmer[1:]] == kmers[by_kmer[:-1]]
    for shift in _TILINGS:
        wid = vk.window_ids(shift)[sub]
        # distinct (window, k-mer) pairs, so a repeated k-mer inside one read counts once
        w = wid[by_kmer]
        repeat = np.zeros(len(kmers), dtype=bool)
        repeat[by_kmer[1:]] = same_kmer & (w[1:] == w[:-1])
        sel = np.flatnonzero(considered & ~repeat)
        if not len(sel):
            continue
        wsel = wid[sel]  # in view order, so sorted: windows are runs
        starts_w = np.flatnonzero(np.concatenate(([True], wsel[1:] != wsel[:-1])))
        uniq_w = wsel[starts_w]
        total = np.diff(np.append(starts_w, len(wsel)))
        hits = np.add.reduceat(found[sel].astype(np.int64), starts_w)
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
