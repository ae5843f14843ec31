"""The run's k-mer set: sorted canonical k-mers, each with the id of the set of samples that hold it.

Built from any number of threads: each thread gathers its file's k-mers in a pending array of its
own, sorts it there (without the GIL: threads sort side by side) and merges it, under the lock,
into its sample set's sorted array, in place (the array's free slots are the merge's only room).
When the sets outgrow their budget they turn into a FracMinHash sketch (keep k-mers whose hash <
2**64 / scale), doubling the scale as needed and sampling every array in place, so memory stays
bounded on production runs.  The result does not depend on the order k-mers come in: the final
scale is the smallest whose sketch fits the budget.

Memory: every array the builder holds is counted in ``held()`` (k-mers' worth, 8 bytes each) and
stays within ``memory_bound()``: the budget, the pending arrays of the reading threads, the merge
room a few sample sets keep between merges.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from . import _kernels
from .kmers import K, canonical, evidence_mask
from .winnow import mix64

# Distinct k-mers kept exactly (12 bytes each in the index, 8 while built): a MiSeq / MinION bench
# run has a few million; past this the set samples (FracMinHash) and reports a detection floor.
KMER_BUDGET = 40_000_000
# K-mers a reading thread gathers before it sorts and merges them (32 MiB): a merge rewrites its
# sample set's array, so fewer, larger merges; one pending array per thread.
PENDING_KMERS = 4_000_000
# Free slots the sample sets keep between merges, all together, in pending arrays' worth (the
# ones last merged into keep theirs): a set that merges again needs no fresh pages.
ROOM_PENDINGS = 4
READ_BATCH_BASES = 1 << 18  # bases per kernel pass: its arrays (2 MiB) are reused from the heap, not fresh pages
# Value ranges the sample sets are combined in at the end: the temporaries of one range are small.
COMBINE_SLICES = 16
UNION_PARTS = 64  # sorted arrays one union takes (a bit each in its membership masks)
_NOTHING = np.empty(0, dtype=np.uint64)


def max_hash(scale: int) -> np.uint64:
    return np.uint64((1 << 64) // scale - 1) if scale > 1 else np.uint64(0xFFFFFFFFFFFFFFFF)


class SampledParts:
    """Arrays added part by part from any thread: (values, a companion array of as many items, a
    tag) each.  Past ``budget`` values they are sampled by ``key(values)`` (FracMinHash: those at or
    below 1/scale of the key range kept, the scale doubling as needed, one part at a time), so what
    is kept does not depend on the order parts come in."""

    def __init__(self, budget: int, key: Callable[[np.ndarray], np.ndarray] = lambda v: v):
        self.budget = budget
        self.key = key
        self.scale = 1
        self.parts: list[tuple[np.ndarray, np.ndarray, int]] = []
        self.count = 0
        self._lock = threading.Lock()

    def add(self, values: np.ndarray, companion: np.ndarray, tag: int) -> None:
        with self._lock:
            if self.scale > 1:
                keep = self.key(values) <= max_hash(self.scale)
                values, companion = values[keep], companion[keep]
            self.parts.append((values, companion, tag))
            self.count += len(values)
            while self.count > self.budget:
                self.scale *= 2
                limit = max_hash(self.scale)
                for i, (v, c, t) in enumerate(self.parts):  # one part at a time: no second set
                    keep = self.key(v) <= limit
                    self.parts[i] = (v[keep], c[keep], t)
                self.count = sum(len(v) for v, _, _ in self.parts)

    def take(self) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """The parts kept (they leave the set)."""
        parts, self.parts = self.parts, []
        return parts


class SampleSets:
    """Interned sets of sample ids; id 0 is the empty set (reads of no known sample)."""

    def __init__(self, sets: list[tuple[str, ...]] | None = None):
        self.sets: list[tuple[str, ...]] = list(sets or [()])
        self._ids = {s: i for i, s in enumerate(self.sets)}

    def intern(self, samples) -> int:
        key = tuple(sorted(set(samples)))
        if key not in self._ids:
            self._ids[key] = len(self.sets)
            self.sets.append(key)
        return self._ids[key]

    def weights(self) -> np.ndarray:
        return mix64(np.arange(1, len(self.sets) + 1, dtype=np.uint64))


def most_specific(members: list[set[str]]) -> set[str]:
    """Samples a k-mer seen in several files belongs to: the union of the most specific attributions.

    Undemultiplexed files (BCL, a lane's reads: "any sample of lane 1") are wider than a sample's
    FASTQ ("sample A"); a k-mer in both is A's, so wider sets that contain a narrower one are dropped.
    Files of no known sample (Undetermined) attribute nothing.
    """
    known = [m for m in members if m]
    narrow = [m for m in known if not any(o < m for o in known)]
    return set().union(*narrow)


@dataclass(slots=True)
class _Run:
    """One sample set's sorted distinct k-mers: buf[lo:lo + n], at one end of buf (the rest: room)."""

    buf: np.ndarray
    lo: int = 0
    n: int = 0

    def trimmed(self) -> np.ndarray:
        """The k-mers moved to the front and the room given back (realloc: no copy, no new pages)."""
        if self.lo:
            self.lo, self.n = _kernels.merge(self.buf, self.lo, self.n, _NOTHING)
        self.buf.resize(self.n, refcheck=False)  # no view of buf outlives a builder method
        return self.buf


class KmerSetBuilder:
    def __init__(self, budget: int = KMER_BUDGET, pending: int = PENDING_KMERS):
        self.budget = budget
        self.pending = pending
        self.scale = 1
        self.sets = SampleSets()
        self.reads = 0
        self.bases = 0
        self.peak_held = 0  # the most k-mers' worth of memory held at once (tests check the bound)
        self._runs: dict[int, _Run] = {}  # sample-set id -> its k-mers; least recently merged first
        self._pending_held = 0  # k-mers' worth of the reading threads' pending arrays
        self._lock = threading.Lock()

    def sid_of(self, samples: Iterable[str]) -> int:
        """The sample-set id of a file's reads (ask before the threads start: ids follow file order)."""
        with self._lock:
            return self.sets.intern(samples)

    def held(self) -> int:
        """K-mers' worth of memory (8 bytes each) in every array the builder holds now."""
        with self._lock:
            return self._held()

    def _held(self) -> int:
        return sum(len(r.buf) for r in self._runs.values()) + self._pending_held

    def memory_bound(self, threads: int) -> int:
        """The most ``held()`` can reach with ``threads`` threads adding reads: the budget plus the
        merge that crosses it, the room kept between merges (a set that grew by one merge keeps
        up to two pending arrays' worth) and each thread's pending array."""
        return self.budget + (ROOM_PENDINGS + 3) * self.pending + threads * self.pending

    def add_reads(self, reads: Iterable[bytes], samples: tuple[str, ...]) -> int:
        """Add every read of one file (an iterable of ACGTN bytes) for the given samples (safe
        from several threads, a file per thread); returns how many reads there were."""
        sid = self.sid_of(samples)
        with self._lock:
            self._pending_held += self.pending
        pending = np.empty(self.pending, dtype=np.uint64)  # pages touched as it fills
        try:
            fill, scale, count, bases = 0, self.scale, 0, 0
            batch: list[bytes] = []
            size = 0
            for read in reads:
                batch.append(read)
                size += len(read) + 1
                if size < READ_BATCH_BASES:
                    continue
                fill, scale = self._add_batch(batch, sid, pending, fill, scale)
                count, bases, batch, size = count + len(batch), bases + size - len(batch), [], 0
            if batch:
                fill, scale = self._add_batch(batch, sid, pending, fill, scale)
                count, bases = count + len(batch), bases + size - len(batch)
            if fill:
                self._flush(pending[:fill], sid, scale)
            with self._lock:
                self.reads += count
                self.bases += bases
            return count
        finally:
            del pending  # freed before it stops being counted
            with self._lock:
                self._pending_held -= self.pending

    def _add_batch(self, batch: list[bytes], sid: int, pending: np.ndarray, fill: int,
                   scale: int) -> tuple[int, int]:
        """One kernel pass over a batch of reads into ``pending`` (flushed when full); returns the
        new fill and the scale the pending k-mers were sampled at (the lowest of them)."""
        kmers, _ = canonical(b"N".join(batch), K, starts=False)
        if fill == 0:
            scale = self.scale  # a read without the lock: a stale scale only samples less
        if scale > 1:
            kmers = kmers[:_kernels.sample(kmers, 0, len(kmers), int(max_hash(scale)))]
        kmers = kmers[evidence_mask(kmers)]  # sorted and made distinct with the others at the merge
        while len(kmers):
            take = min(len(kmers), len(pending) - fill)
            pending[fill: fill + take] = kmers[:take]
            fill, kmers = fill + take, kmers[take:]
            if fill == len(pending):
                self._flush(pending, sid, scale)
                fill = 0  # the rest of the batch is still sampled at ``scale`` only
        return fill, scale

    def _flush(self, new: np.ndarray, sid: int, scale: int) -> None:
        """Sort and dedupe pending k-mers in place (outside the lock), then merge them into the set."""
        new.sort()
        new = new[:_kernels.dedupe(new)]
        with self._lock:
            if self.scale > scale:  # the set was sampled further since these were
                new = new[:_kernels.sample(new, 0, len(new), int(max_hash(self.scale)))]
            self._merge(sid, new)

    def _merge(self, sid: int, new: np.ndarray) -> None:
        """Merge sorted distinct k-mers into a sample set's array in place (grown by realloc when
        neither side has room), then sample when over budget and give back room past the limit
        (a k-mer counts once per sample set holding it: an upper bound of the distinct ones)."""
        run = self._runs.pop(sid, None) or _Run(np.empty(0, dtype=np.uint64))
        self._runs[sid] = run  # now the most recently merged
        m = len(new)
        if run.lo < m and len(run.buf) - run.lo - run.n < m:
            run.buf.resize(run.lo + run.n + m, refcheck=False)  # realloc: the pages move, not the data
        self.peak_held = max(self.peak_held, self._held())
        run.lo, run.n = _kernels.merge(run.buf, run.lo, run.n, new)
        while sum(r.n for r in self._runs.values()) > self.budget:
            self.scale *= 2
            limit = int(max_hash(self.scale))
            for r in self._runs.values():
                r.n, r.lo = _kernels.sample(r.buf, r.lo, r.n, limit), 0
                r.buf.resize(r.n, refcheck=False)
        room = sum(len(r.buf) - r.n for r in self._runs.values())
        for r in self._runs.values():  # least recently merged first
            if room <= ROOM_PENDINGS * self.pending:
                break
            if r is not run:
                room -= len(r.buf) - r.n
                r.trimmed()

    def finish(self) -> tuple[np.ndarray, np.ndarray, SampleSets, int]:
        """(sorted distinct k-mers, sample-set id of each, the sample sets, the sampling scale).

        The sample sets' arrays are cut into COMBINE_SLICES value ranges first, each range freed
        once combined, so the peak is about the result plus one range, not twice the set.
        """
        with self._lock:
            runs, self._runs = self._runs, {}
            sorted_sets = {sid: runs.pop(sid).trimmed() for sid in sorted(runs)}
            sids = list(sorted_sets)
            if not sids:
                return np.empty(0, np.uint64), np.empty(0, np.uint32), self.sets, self.scale
            if len(sids) == 1:
                kmers = sorted_sets.pop(sids[0])
                return kmers, np.full(len(kmers), sids[0], dtype=np.uint32), self.sets, self.scale
            edges = _slice_edges(list(sorted_sets.values()), COMBINE_SLICES)
            pieces: dict[int, list[np.ndarray | None]] = {}
            for sid in sids:
                arr = sorted_sets.pop(sid)
                cuts = np.searchsorted(arr, edges)
                pieces[sid] = [arr[a:b].copy() for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
                del arr
            total = sum(len(p) for parts in pieces.values() for p in parts if p is not None)
            kmers, owner, done = np.empty(total, dtype=np.uint64), np.empty(total, dtype=np.uint32), 0
            for i in range(len(edges) - 1):
                parts = [pieces[sid][i] for sid in sids]
                for sid in sids:
                    pieces[sid][i] = None
                k, o = self._combine(parts, sids)
                kmers[done: done + len(k)], owner[done: done + len(k)] = k, o
                done += len(k)
            return kmers[:done], owner[:done], self.sets, self.scale

    def _combine(self, parts: list[np.ndarray], sids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The union of sorted sample-set arrays (one value range), each k-mer with the id of the
        most specific sample set holding it (one union per distinct combination of sets)."""
        owner = np.empty(0, dtype=np.uint32)
        kmers = []
        for at in range(0, len(parts), UNION_PARTS):  # 64 sets at a time, then their unions
            values, masks = union(parts[at: at + UNION_PARTS])
            groups = [sids[at + bit] for bit in range(min(UNION_PARTS, len(parts) - at))]
            combos, inverse = np.unique(masks, return_inverse=True)
            ids = np.array([self.sets.intern(most_specific([set(self.sets.sets[groups[bit]])
                                                            for bit in range(64) if int(mask) >> bit & 1]))
                            for mask in combos.tolist()], dtype=np.uint32)
            kmers.append(values)
            owner = np.concatenate([owner, ids[inverse]]) if len(owner) else ids[inverse]
        if len(kmers) == 1:
            return kmers[0], owner
        return self._combine_wide(kmers, owner)

    def _combine_wide(self, kmers: list[np.ndarray], owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """More than 64 sample sets (a folder of many small files): the unions of each 64 are
        joined by a sort, a k-mer in several of them gets the most specific of their sets."""
        values = np.concatenate(kmers)
        order = np.argsort(values, kind="stable")
        values, owner = values[order], owner[order]
        starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
        sizes = np.diff(np.append(starts, len(values)))
        out = owner[starts]
        for g in np.flatnonzero(sizes > 1).tolist():
            held = [set(self.sets.sets[sid]) for sid in owner[starts[g]: starts[g] + sizes[g]].tolist()]
            out[g] = self.sets.intern(most_specific(held))
        return values[starts], out


def union(arrays: list[np.ndarray], masks: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct union, mask of the arrays holding each value, if asked) of <= 64 sorted
    distinct arrays."""
    values = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    bounds = np.cumsum([0, *map(len, arrays)], dtype=np.int64)
    out = np.empty(len(values), dtype=np.uint64)
    held = np.empty(len(values) if masks else 0, dtype=np.uint64)
    count = _kernels.union(values, bounds, out, held)
    return out[:count], held[:count]


def _slice_edges(arrays: list[np.ndarray], slices: int) -> list[np.uint64]:
    """Value boundaries splitting the union of sorted arrays into about ``slices`` ranges (the last
    edge lies above every value)."""
    top = max(int(a[-1]) for a in arrays if len(a)) if any(len(a) for a in arrays) else 0
    step = top // slices + 1
    return [np.uint64(min(i * step, (1 << 64) - 1)) for i in range(slices)] + [np.uint64(top + 1)]
