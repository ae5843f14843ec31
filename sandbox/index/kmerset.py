"""The run's k-mer set: sorted canonical k-mers, each with the id of the set of samples that hold it.

Built batch by batch (one file's reads at a time), merged with numpy sorts; when the set outgrows
its budget it turns into a FracMinHash sketch (keep k-mers whose hash < 2**64 / scale), doubling
the scale as needed, so memory stays bounded on production runs.
"""

from __future__ import annotations

import numpy as np

from .kmers import K, canonical, evidence_mask, kmer_hash, sorted_unique
from .winnow import mix64

# Distinct k-mers kept exactly (12 bytes each, ~2x while merging): a MiSeq / MinION bench run has
# a few million; past this the set samples (FracMinHash) and reports a detection floor instead.
KMER_BUDGET = 40_000_000
MERGE_EVERY = 8_000_000  # pending k-mers before a merge: bounds the unmerged batches' memory
READ_BATCH_BASES = 2 << 20  # bases per numpy pass: ~100 bytes of temporaries per base


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
        self.kmers = np.empty(0, dtype=np.uint64)
        self.sids = np.empty(0, dtype=np.uint32)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_n = 0
        self.reads = 0
        self.bases = 0

    def add_reads(self, reads, samples: tuple[str, ...]) -> None:
        """Add every read of one file (an iterable of ACGTN bytes) for the given samples."""
        sid = self.sets.intern(samples)
        batch: list[bytes] = []
        size = 0
        for read in reads:
            batch.append(read)
            size += len(read) + 1
            if size >= READ_BATCH_BASES:
                self._add_batch(batch, sid)
                batch, size = [], 0
        if batch:
            self._add_batch(batch, sid)

    def _add_batch(self, batch: list[bytes], sid: int) -> None:
        self.reads += len(batch)
        self.bases += sum(map(len, batch))
        kmers, _ = canonical(b"N".join(batch), K)
        kmers = sorted_unique(kmers)
        kmers = kmers[evidence_mask(kmers)]
        if self.scale > 1:
            kmers = kmers[kmer_hash(kmers) <= max_hash(self.scale)]
        self._pending.append((kmers, np.full(len(kmers), sid, dtype=np.uint32)))
        self._pending_n += len(kmers)
        if self._pending_n >= MERGE_EVERY:
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        kmers = np.concatenate([self.kmers, *(k for k, _ in self._pending)])
        sids = np.concatenate([self.sids, *(s for _, s in self._pending)])
        self._pending, self._pending_n = [], 0
        order = np.lexsort((sids, kmers))
        kmers, sids = kmers[order], sids[order]
        keep = np.ones(len(kmers), dtype=bool)
        keep[1:] = (kmers[1:] != kmers[:-1]) | (sids[1:] != sids[:-1])
        kmers, sids = kmers[keep], sids[keep]
        first = np.ones(len(kmers), dtype=bool)
        first[1:] = kmers[1:] != kmers[:-1]
        starts = np.flatnonzero(first)
        if len(starts) != len(kmers):
            sids = self._combine(sids, starts)
        self.kmers, self.sids = kmers[starts], sids.astype(np.uint32)
        while len(self.kmers) > self.budget:
            self.scale *= 2
            keep = kmer_hash(self.kmers) <= max_hash(self.scale)
            self.kmers, self.sids = self.kmers[keep], self.sids[keep]

    def _combine(self, sids: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """One sample-set id per k-mer group: groups with one member keep it, others get the union.

        A group's member set is named by the XOR of random per-set weights (exact for distinct
        members), so the Python work is one union per distinct combination, not per k-mer.
        """
        sizes = np.diff(np.append(starts, len(sids)))
        out = sids[starts].astype(np.uint32)
        multi = np.flatnonzero(sizes > 1)
        if not len(multi):
            return out
        sig = np.bitwise_xor.reduceat(self.sets.weights()[sids], starts)[multi]
        uniq, first_of, inverse = np.unique(sig, return_index=True, return_inverse=True)
        new_ids = np.empty(len(uniq), dtype=np.uint32)
        for j, g in enumerate(multi[first_of]):
            members = [set(self.sets.sets[m]) for m in sids[starts[g]: starts[g] + sizes[g]].tolist()]
            new_ids[j] = self.sets.intern(most_specific(members))
        out[multi] = new_ids[inverse]
        return out

    def finish(self) -> tuple[np.ndarray, np.ndarray, SampleSets, int]:
        self._merge()
        return self.kmers, self.sids, self.sets, self.scale
