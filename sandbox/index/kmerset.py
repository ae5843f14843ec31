"""The run's k-mer set: sorted canonical k-mers, each with the id of the set of samples that hold it.

Built batch by batch from any number of threads (the k-mer kernels run without the GIL), kept as
one sorted array per sample set and merged with numpy sorts; when the set outgrows its budget it
turns into a FracMinHash sketch (keep k-mers whose hash < 2**64 / scale), doubling the scale as
needed, so memory stays bounded on production runs.  The result does not depend on the order
batches come in: the final scale is the smallest whose sketch fits the budget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

from . import _kernels
from .kmers import K, canonical, evidence_mask, kmer_hash
from .winnow import mix64

# Distinct k-mers kept exactly (12 bytes each in the index, 8 while built): a MiSeq / MinION bench
# run has a few million; past this the set samples (FracMinHash) and reports a detection floor.
KMER_BUDGET = 40_000_000
MERGE_EVERY = 8_000_000  # pending k-mers before a merge: bounds the unmerged batches' memory
READ_BATCH_BASES = 1 << 18  # bases per kernel pass: its arrays (2 MiB) are reused from the heap, not fresh pages
# Value ranges the sample sets are combined in at the end: the temporaries of one range are small.
COMBINE_SLICES = 16
UNION_PARTS = 64  # sorted arrays one union takes (a bit each in its membership masks)
SPARE_GROWTH = 1.25  # a merge's array is made this much larger than it needs: the next ones fit


def max_hash(scale: int) -> np.uint64:
    return np.uint64((1 << 64) // scale - 1) if scale > 1 else np.uint64(0xFFFFFFFFFFFFFFFF)


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


class KmerSetBuilder:
    def __init__(self, budget: int = KMER_BUDGET):
        self.budget = budget
        self.scale = 1
        self.sets = SampleSets()
        self.reads = 0
        self.bases = 0
        self._sorted: dict[int, np.ndarray] = {}  # sample-set id -> sorted distinct k-mers
        self._pending: dict[int, list[np.ndarray]] = {}
        self._pending_n = 0
        self._lock = threading.Lock()
        # Merges write into arrays kept from merge to merge: fresh pages cost more than the merge
        # itself (the kernel zeroes each one on first touch), and a run merges hundreds of times.
        # One spare serves every sample set: the array a set's merge leaves is the next one's.
        self._buffers: dict[int, np.ndarray] = {}  # sample-set id -> the array its k-mers lie in
        self._spare: np.ndarray | None = None  # the array the next merge writes: the one a set left
        self._scratch = np.empty(0, dtype=np.uint64)  # the pending k-mers of one set, sorted there

    def sid_of(self, samples: Iterable[str]) -> int:
        """The sample-set id of a file's reads (ask before the threads start: ids follow file order)."""
        with self._lock:
            return self.sets.intern(samples)

    def add_reads(self, reads: Iterable[bytes], samples: tuple[str, ...]) -> int:
        """Add every read of one file (an iterable of ACGTN bytes) for the given samples; returns
        how many reads there were."""
        sid = self.sid_of(samples)
        count = 0
        batch: list[bytes] = []
        size = 0
        for read in reads:
            batch.append(read)
            size += len(read) + 1
            if size >= READ_BATCH_BASES:
                count += self.add_batch(batch, sid)
                batch, size = [], 0
        if batch:
            count += self.add_batch(batch, sid)
        return count

    def add_batch(self, batch: list[bytes], sid: int) -> int:
        """Add a batch of reads (safe from several threads); returns its size."""
        kmers, _ = canonical(b"N".join(batch), K, starts=False)
        scale = self.scale  # sampled already: only the kept share is tested
        if scale > 1:
            kmers = kmers[kmer_hash(kmers) <= max_hash(scale)]
        kmers = kmers[evidence_mask(kmers)]  # sorted and made distinct with the others at the merge
        with self._lock:
            self.reads += len(batch)
            self.bases += sum(map(len, batch))
            if self.scale > scale:
                kmers = kmers[kmer_hash(kmers) <= max_hash(self.scale)]
            self._pending.setdefault(sid, []).append(kmers)
            self._pending_n += len(kmers)
            if self._pending_n >= MERGE_EVERY:
                self._merge()
        return len(batch)

    def _merge(self) -> None:
        """Fold the pending batches into each sample set's sorted array; sample when over budget
        (a k-mer counts once per sample set holding it: an upper bound of the distinct ones)."""
        for sid, parts in self._pending.items():
            n = sum(map(len, parts))
            if len(self._scratch) < n:
                self._scratch = np.empty(max(n, MERGE_EVERY + READ_BATCH_BASES), dtype=np.uint64)
            new = self._scratch[:n]
            np.concatenate(parts, out=new)
            new.sort()
            new = new[:_kernels.dedupe(new)]
            old = self._sorted.get(sid, new[:0])
            out = self._spare
            if out is None or len(out) < len(old) + len(new):
                out = np.empty(int((len(old) + len(new)) * SPARE_GROWTH), dtype=np.uint64)
            self._sorted[sid] = out[:_kernels.merge(old, new, out)]
            self._spare, self._buffers[sid] = self._buffers.get(sid), out  # one spare for all sets
        self._pending, self._pending_n = {}, 0
        while sum(map(len, self._sorted.values())) > self.budget:
            self.scale *= 2
            limit = max_hash(self.scale)
            self._buffers, self._spare = {}, None  # freed as the sets are sampled, one by one
            for sid in list(self._sorted):
                k = self._sorted[sid]
                self._sorted[sid] = k[kmer_hash(k) <= limit]
            self._buffers = dict(self._sorted)

    def finish(self) -> tuple[np.ndarray, np.ndarray, SampleSets, int]:
        """(sorted distinct k-mers, sample-set id of each, the sample sets, the sampling scale).

        The sample sets' arrays are cut into COMBINE_SLICES value ranges first, each range freed
        once combined, so the peak is about the result plus one range, not twice the set.
        """
        with self._lock:
            self._merge()
            self._buffers, self._spare, self._scratch = {}, None, self._scratch[:0].copy()  # freed with the arrays
            sids = sorted(self._sorted)
            if not sids:
                return np.empty(0, np.uint64), np.empty(0, np.uint32), self.sets, self.scale
            if len(sids) == 1:
                kmers = self._sorted.pop(sids[0])
                return kmers, np.full(len(kmers), sids[0], dtype=np.uint32), self.sets, self.scale
            edges = _slice_edges(list(self._sorted.values()), COMBINE_SLICES)
            pieces: dict[int, list[np.ndarray | None]] = {}
            for sid in sids:
                arr = self._sorted.pop(sid)
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
