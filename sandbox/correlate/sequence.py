"""DNA evidence in a view: which read-sized windows of its ACGT runs are made of the run's k-mers.

A window counts when enough of its distinct k-mers are in the run (exact index: >= MIN_KMERS and
>= MIN_SHARE of them; sampled index: >= SCALED_MIN_KMERS sampled ones).  Two tilings half a window
apart make sure a read anywhere in a long run lies mostly inside one window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sandbox.index.kmers import K, canonical, contains, dna_runs, evidence_mask, kmer_hash, sorted_unique
from sandbox.index.kmerset import max_hash
from sandbox.index.runindex import SCALED_MIN_KMERS, RunIndex

WINDOW = 200  # k-mer starts per window: one short read (150 bp -> 120 k-mers) and some slack
MIN_KMERS = 20  # distinct matching k-mers a window needs: a 50-base stretch of one read
MIN_SHARE = 0.3  # of the window's informative k-mers: unrelated sequence sharing a few stays out
_RUN_STRIDE = 1 << 32  # window ids: run number * stride + window number


@dataclass
class ViewKmers:
    """The canonical k-mers of one view's DNA runs, with the window ids of both tilings."""

    kmers: np.ndarray
    starts: np.ndarray  # offset of the k-mer in the joined run buffer
    wid: tuple[np.ndarray, np.ndarray]
    runs: list[tuple[int, bytes]]


def view_kmers(data: bytes) -> ViewKmers | None:
    runs = dna_runs(data, K)
    if not runs:
        return None
    joined = b"N".join(s for _, s in runs)
    kmers, starts = canonical(joined, K)
    if not len(kmers):
        return None
    bounds = np.cumsum([0] + [len(s) + 1 for _, s in runs])
    run_at = np.zeros(len(joined) + 1, dtype=np.int64)
    run_at[bounds[1:-1]] = 1
    run_no = np.cumsum(run_at)[starts]  # run of every k-mer: one pass, starts are sorted anyway
    within = starts - bounds[run_no]
    wid = tuple(run_no * _RUN_STRIDE + (within + shift) // WINDOW for shift in (0, WINDOW // 2))
    return ViewKmers(kmers, starts, wid, runs)


@dataclass
class SequenceHit:
    rows: np.ndarray  # rows of index.km confirmed by a hit window
    windows: int  # hit windows (tiling 0 and 1, counted once per read-sized stretch)
    bases: int  # bases of the view covered by confirmed k-mers
    first: int  # start of the first confirmed k-mer in the joined buffer (for evidence)


def _candidates(wid: np.ndarray, found: np.ndarray, need: int) -> np.ndarray:
    """Window ids with at least ``need`` found k-mers (repeats included: an upper bound)."""
    w = wid[found]  # already sorted: window ids grow along the view
    if not len(w):
        return w
    starts = np.flatnonzero(np.concatenate(([True], w[1:] != w[:-1])))
    counts = np.diff(np.append(starts, len(w)))
    return w[starts[counts >= need]]


def match(index: RunIndex, vk: ViewKmers) -> SequenceHit | None:
    """Read-sized windows of the view made of the run's k-mers (None if there are none).

    Only windows with enough raw hits are examined further (informative-k-mer filter, distinct
    counts), so unrelated sequence costs one prefiltered lookup per k-mer.
    """
    sampled = index.km_scale > 1
    need = SCALED_MIN_KMERS if sampled else MIN_KMERS
    found_all, rows_all = index.lookup_kmers(vk.kmers)
    if found_all.sum() < need:
        return None
    row_of_all = np.full(len(vk.kmers), -1, dtype=np.int64)
    row_of_all[found_all] = rows_all
    keep = np.zeros(len(vk.kmers), dtype=bool)
    for wid in vk.wid:
        cand = _candidates(wid, found_all, need)
        if len(cand):
            keep |= contains(cand, wid)
    sub = np.flatnonzero(keep)
    if not len(sub):
        return None
    kmers, found, row_of = vk.kmers[sub], found_all[sub], row_of_all[sub]
    considered = evidence_mask(kmers)
    if sampled:
        considered &= kmer_hash(kmers) <= max_hash(index.km_scale)
    confirmed = np.zeros(len(kmers), dtype=bool)
    windows = 0
    # Equal k-mers side by side, in view order: window ids grow along the view, so the repeats of a
    # (window, k-mer) pair are neighbours there.  One sort serves both tilings.
    by_kmer = np.argsort(kmers, kind="stable")
    same_kmer = kmers[by_kmer[1:]] == kmers[by_kmer[:-1]]
    for wid_all in vk.wid:
        wid = wid_all[sub]
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
            confirmed |= contains(uniq_w[good], wid) & found
    if not confirmed.any():
        return None
    starts = vk.starts[sub][confirmed]
    size = int(starts.max()) + K + 1
    cover = np.bincount(starts, minlength=size) - np.bincount(starts + K, minlength=size)
    bases = int((np.cumsum(cover) > 0).sum())
    return SequenceHit(sorted_unique(row_of[confirmed]), windows, bases, int(starts.min()))


def run_offset(vk: ViewKmers, joined_pos: int) -> int:
    """Offset in the view of a position in the joined run buffer (run start + position in run)."""
    pos = 0
    for start, seq in vk.runs:
        if joined_pos < pos + len(seq) + 1:
            return start + (joined_pos - pos)
        pos += len(seq) + 1
    return vk.runs[-1][0]
