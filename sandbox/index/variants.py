"""Variant keys: a VCF record's position and alleles, as the correlator finds them in any text.

Re-written as JSON, CSV, HGVS (``g.8216712A>G``) or a genotype list (``8216712 AG``), a record
keeps its position as a whole number and its alleles as runs of letters beside it; the key of
(position, reference allele, alternate allele) is the same whichever way it was written.  A SNP
also has a key of its alternate allele alone (a homozygous genotype written ``GG``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

from . import _kernels
from .kmerset import SampledParts, SampleSets, most_specific
from .winnow import mix64

ALLELE_CODES = {"A": 1, "C": 2, "G": 3, "T": 4, "N": 5}
ALLELE_EXACT = 19  # letters a value holds exactly (3 bits each); longer alleles are hashed
ALLELE_MAX = _kernels.ALLELE_MAX  # longer letter runs are no allele in traffic: not indexed either
NO_ALLELE = 0  # the reference allele of a SNP's alternate-allele key
VARIANT_BUDGET = 1 << 25  # keys kept exactly (~20 bytes each); past it they are sampled (FracMinHash)
MIN_VARIANTS = 12  # distinct variants a view's traffic must hold of a run's before any finding
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK57 = (1 << 57) - 1
_POS_MUL = np.uint64(0x9E3779B97F4A7C15)
_REF_MUL = np.uint64(0xC2B2AE3D27D4EB4F)


def allele_value(allele: str) -> int | None:
    """The value ``_kernels.numbered_alleles`` gives the allele written as a token (None: no
    allele token can be it: other letters, or longer than ALLELE_MAX)."""
    codes = [ALLELE_CODES.get(c) for c in allele.upper()]
    if not codes or None in codes or len(codes) > ALLELE_MAX:
        return None
    if len(codes) <= ALLELE_EXACT:
        value = 0
        for c in codes:
            value = value << 3 | c
        return len(codes) << 57 | value
    h = _FNV_OFFSET
    for c in codes:
        h = ((h ^ c) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return 31 << 57 | (h & _MASK57)


def variant_keys(pos: np.ndarray, ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """Keys of (position, reference value, alternate value) triples (uint64 arrays alike)."""
    with np.errstate(over="ignore"):
        x = np.asarray(pos, dtype=np.uint64) * _POS_MUL
        x += np.asarray(ref, dtype=np.uint64) * _REF_MUL
        x ^= np.asarray(alt, dtype=np.uint64)
    return mix64(x)


class VariantSetBuilder:
    """The keys of every file's variants, added from any thread; ``finish`` gives the sorted tables.
    Past the budget the keys are sampled (those whose hash is below 1/scale of the range, as the
    k-mers are), so a VCF of a whole cohort costs what the budget allows, and the result does not
    depend on the order files come in."""

    def __init__(self, budget: int = VARIANT_BUDGET):
        self.records = 0
        self.kept = SampledParts(budget)   # (keys, their positions, sample set): keys are hashes already
        self._lock = threading.Lock()

    @property
    def scale(self) -> int:
        return self.kept.scale

    def add(self, records: Iterable[tuple[int, str, tuple[str, ...]]], sid: int) -> int:
        """Add (position, ref, alts) records of one file; returns how many there were."""
        values: dict[str, int | None] = {}
        pos, ref, alt = [], [], []
        count = 0
        for position, ref_allele, alts in records:
            count += 1
            r = values[ref_allele] if ref_allele in values else values.setdefault(ref_allele, allele_value(ref_allele))
            if r is None or position <= 0:
                continue
            for a_allele in alts:
                a = values[a_allele] if a_allele in values else values.setdefault(a_allele, allele_value(a_allele))
                if a is None or a == r:
                    continue
                pos.append(position), ref.append(r), alt.append(a)
                if len(ref_allele) == 1 and len(a_allele) == 1:
                    pos.append(position), ref.append(NO_ALLELE), alt.append(a)
        keys = variant_keys(np.array(pos, np.uint64), np.array(ref, np.uint64), np.array(alt, np.uint64))
        with self._lock:
            self.records += count
        self.kept.add(keys, np.array(pos, np.uint64), sid)
        return count

    def finish(self, sets: SampleSets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sorted distinct keys, the sample-set id of each, sorted distinct positions): a key several
        files hold belongs to the most specific of their sample sets (``kmerset.most_specific``)."""
        parts = [p for p in self.kept.take() if len(p[0])]
        if not parts:
            empty = np.empty(0, np.uint64)
            return empty, np.empty(0, np.uint32), empty
        keys = np.concatenate([p[0] for p in parts])
        sids = np.repeat(np.array([p[2] for p in parts], np.uint32), [len(p[0]) for p in parts])
        positions = np.unique(np.concatenate([p[1] for p in parts]))
        order = np.lexsort((sids, keys))
        keys, sids = keys[order], sids[order]
        fresh = np.concatenate(([True], (keys[1:] != keys[:-1]) | (sids[1:] != sids[:-1])))
        keys, sids = keys[fresh], sids[fresh]
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        shared = np.flatnonzero(np.diff(np.append(starts, len(keys))) > 1)
        combos: dict[tuple[int, ...], int] = {}
        out_sids = sids[starts].copy()
        ends = np.append(starts[1:], len(keys))
        for g in shared.tolist():
            group = tuple(sids[starts[g]:ends[g]].tolist())
            if group not in combos:
                combos[group] = sets.intern(most_specific([set(sets.sets[s]) for s in group]))
            out_sids[g] = combos[group]
        return keys[starts], out_sids.astype(np.uint32), positions
