"""Variant records re-written in any text: positions as whole numbers, their alleles beside them.

A VCF's records sent as JSON, CSV, HGVS or a genotype list share no bytes with the VCF, but each
keeps its position as a number and its alleles as letter runs near it.  Every number with allele
tokens beside it (``_kernels.numbered_alleles``) is tried as a position of the run's variants, the
tokens around it paired as (reference, alternate) alleles.  Text full of numbers and short letter
runs (hex, UUIDs, base64) meets the run's variants by chance now and then, so every number is
also tried at DECOY_OFFSETS positions further on, which no leak favours: what the shifted numbers
meet measures chance in this very traffic, and only far more real matches than that are a leak
(``VariantTally.leaks``).  A table written column by column (pandas' default JSON) puts the
positions in one list and the alleles in others, far apart: where a view holds a column of alleles,
its numbers are tried as positions alone (``_listed``), and a leak of those needs more of them,
further above chance.  Positions written otherwise than in decimal (hex, differences from the
previous one) are not read.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sandbox.index import RunIndex, _kernels
from sandbox.index.variants import MIN_VARIANTS, NO_ALLELE, variant_keys

WINDOW = 128  # bytes between a number and an allele token beside it
PIECE = 1 << 18  # view bytes per kernel call (its arrays: ~30 bytes per byte of piece, kept per thread)
SIDE = _kernels.ALLELE_SIDE  # tokens kept on each side, nearest first: slots 0..2 before, 3..5 after
# token slots read as (reference, alternate): the nearest three after the number, the nearest three
# before it, and the nearest on either side
PAIRS = np.array([(a, b) for side in ((3, 4, 5), (0, 1, 2)) for a in side for b in side if a != b]
                 + [(0, 3), (3, 0)], dtype=np.intp)
JOINED_SLOTS = np.array([0, 1, 3, 4], dtype=np.intp)  # a two-letter token here may be a genotype ("AG")
DECOY_OFFSETS = (1009, 2027, 3041, 4051)
Z = 6.0  # standard deviations above chance (the decoys' rate) a leak must be
MAX_TALLIED = 1 << 14  # distinct positions a tally remembers (and DECOY_OFFSETS times that of decoys)
# Positions without their alleles beside them: read only where a view holds a column of alleles (this
# many one-letter allele tokens, three of A, C, G, T a tenth of them or more), and a leak needs more
# distinct positions, further above what the decoys meet (a number alone is a weaker match).
LISTED_TOKENS = 24
MIN_LISTED = 24
Z_LISTED = 8.0
_LEN_SHIFT = np.uint64(57)
_ONE_LETTER = np.uint64(1 << 57)


@dataclass
class VariantHits:
    """What one view holds of a run's variants."""

    positions: np.ndarray  # distinct positions matched with their alleles
    rows: np.ndarray  # rows of ``RunIndex.var_key`` matched
    decoys: np.ndarray  # distinct shifted positions matched (offset number << 40 | position)
    matched_bytes: int  # digits and allele letters of the matched variants (each once)
    span: tuple[int, int]  # view bytes from the first matched number to the last


_scratch = threading.local()
_NONE = np.empty((0, 2), np.int64), np.empty(0, np.uint64), np.empty((0, 2 * SIDE), np.uint64)
_OFFSETS = np.array((0, *DECOY_OFFSETS), dtype=np.uint64)
_NO_BLOOM = np.empty(0, np.uint8)


def _scratch_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """This thread's arrays for a piece's numbers (~7 MB: made once)."""
    if not hasattr(_scratch, "arrays"):
        cap = PIECE // 3 + 2
        _scratch.arrays = (np.empty(2 * cap, np.int64), np.empty(cap, np.uint64), np.empty(2 * SIDE * cap, np.uint64),
                           np.empty(cap, np.uint64))
    return _scratch.arrays


def numbered(data: bytes | memoryview, ix: RunIndex | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(spans (n, 2), values (n), token values (n, 6)) of the numbers with allele tokens beside them,
    and the values of the numbers of pieces that hold a column of alleles (with ``ix``, only numbers
    that its positions' Bloom filter says may be one, or a decoy's)."""
    bloom, bits = ix.position_bloom() if ix is not None else (_NO_BLOOM, 0)
    spans, values, tokens, listed = [], [], [], []
    s, v, t, w = _scratch_arrays()
    for lo in range(0, len(data), PIECE):
        n, m = _kernels.numbered_alleles(data, lo, min(len(data), lo + PIECE), WINDOW, bloom, bits, _OFFSETS, s, v, t,
                                         LISTED_TOKENS, w)
        if n:
            spans.append(s[:2 * n].reshape(n, 2).copy())
            values.append(v[:n].copy())
            tokens.append(t[:2 * SIDE * n].reshape(n, 2 * SIDE).copy())
        if m:
            listed.append(w[:m].copy())
    alone = np.concatenate(listed) if listed else _NONE[1]
    if len(values) < 2:
        return (spans[0], values[0], tokens[0], alone) if values else (*_NONE, alone)
    return np.concatenate(spans), np.concatenate(values), np.concatenate(tokens), alone


def _allele_pairs(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate, reference value, alternate value) of every way the tokens beside candidates can
    be a variant's alleles: pairs of tokens, and two-letter tokens as genotypes."""
    n = len(tokens)
    ref = tokens[:, PAIRS[:, 0]]
    alt = tokens[:, PAIRS[:, 1]]
    joined = tokens[:, JOINED_SLOTS]
    two = (joined >> _LEN_SHIFT) == 2
    x = _ONE_LETTER | ((joined >> np.uint64(3)) & np.uint64(7))
    y = _ONE_LETTER | (joined & np.uint64(7))
    het = two & (x != y)
    hom = two & (x == y)
    refs = np.concatenate([ref, x, y, np.full_like(x, NO_ALLELE)], axis=1)
    alts = np.concatenate([alt, y, x, y], axis=1)
    valid = np.concatenate([(ref != 0) & (alt != 0) & (ref != alt), het, het, hom], axis=1)
    owner = np.broadcast_to(np.arange(n)[:, None], refs.shape)
    return owner[valid], refs[valid], alts[valid]


def _letters(value: np.ndarray) -> np.ndarray:
    """Letters of allele values (their length field; a hashed long one counts 20)."""
    length = (value >> _LEN_SHIFT).astype(np.int64)
    return np.where(length == 31, 20, length)


def find_variants(ix: RunIndex, data: bytes | memoryview
                  ) -> tuple[VariantHits | None, tuple[np.ndarray, np.ndarray] | None]:
    """The run's variants in ``data`` and the shifted positions met by chance, None when neither; and
    where ``data`` holds a column of alleles, its numbers that are positions of the run's variants
    and its shifted ones that are (``_listed``), None when neither."""
    if not len(ix.var_key) or len(data) < 4:
        return None, None
    spans, values, tokens, alone = numbered(data, ix)
    return _paired(ix, spans, values, tokens), _listed(ix, alone)


def _paired(ix: RunIndex, spans: np.ndarray, values: np.ndarray, tokens: np.ndarray) -> VariantHits | None:
    if not len(values):
        return None
    shifted = (values + _OFFSETS[:, None]).reshape(-1)        # offset-major: (offset, candidate)
    at = np.flatnonzero(ix.lookup_positions(shifted))
    if not len(at):
        return None
    cand = at % len(values)
    owner, ref, alt = _allele_pairs(tokens[cand])
    found, rows = ix.lookup_variants(variant_keys(shifted[at][owner], ref, alt))
    if not found.any():
        return None
    hit = at[owner[found]]                      # (offset, candidate) of each matched key
    which = hit // len(values)
    real = which == 0
    empty = np.empty(0, np.uint64)
    positions, matched, span = empty, 0, (0, 0)
    if real.any():
        c = hit[real]
        first = np.unique(values[c], return_index=True)[1]
        r, a = ref[found][real][first], alt[found][real][first]
        letters = _letters(r) * (r != NO_ALLELE) + _letters(a)
        positions = values[c[first]]
        matched = int((letters + spans[c[first], 1] - spans[c[first], 0]).sum())
        span = (int(spans[c, 0].min()), int(spans[c, 1].max()))
    decoys = np.unique((which[~real].astype(np.uint64) << np.uint64(40)) | shifted[hit[~real]])
    return VariantHits(positions, rows[real], decoys, matched, span)


def _listed(ix: RunIndex, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    numbers = np.unique(numbers)
    if len(numbers) < MIN_LISTED:       # fewer than a leak of them needs: not worth a lookup
        return None
    shifted = (numbers + _OFFSETS[:, None]).reshape(-1)
    at = np.flatnonzero(ix.lookup_positions(shifted))
    if not len(at):
        return None
    which = at // len(numbers)
    real = numbers[at[which == 0]]
    decoys = np.unique((which[which > 0].astype(np.uint64) << np.uint64(40)) | shifted[at[which > 0]])
    return real, decoys


def significant(hits: int, decoy_hits: int, least: int = MIN_VARIANTS, z: float = Z) -> bool:
    """Whether ``hits`` distinct variants are a leak when the shifted readings (DECOY_OFFSETS) met
    ``decoy_hits`` together: at least ``least``, and ``z`` standard deviations above the chance
    rate they measure (one added to them, so that none met is no proof of a rate of zero)."""
    decoys = len(DECOY_OFFSETS)
    rate = (decoy_hits + 1) / decoys
    return hits >= least and hits - rate >= z * math.sqrt(rate * (1 + 1 / decoys))


@dataclass
class VariantCounts:
    """Distinct matches, with their alleles and positions alone, and what their decoys met."""

    paired: int = 0
    paired_decoys: int = 0
    alone: int = 0
    alone_decoys: int = 0

    def leaks(self) -> bool:
        """Variants with their alleles (MIN_VARIANTS, Z) or positions alone (MIN_LISTED, Z_LISTED)
        far enough above chance."""
        return (significant(self.paired, self.paired_decoys)
                or significant(self.alone, self.alone_decoys, least=MIN_LISTED, z=Z_LISTED))


@dataclass
class VariantTally:
    """The variants one flow sent one destination, and the decoys its traffic met (bounded sets)."""

    channel: str
    flow: str
    destination: str
    run_id: str
    positions: set[int] = field(default_factory=set)
    decoys: set[int] = field(default_factory=set)
    listed: set[int] = field(default_factory=set)  # positions met alone, where a column of alleles was
    listed_decoys: set[int] = field(default_factory=set)
    sids: set[int] = field(default_factory=set)  # sample sets of the matched variants
    matched_bytes: int = 0
    passed: bool = False  # a leak on its own or with the other flows to its destination; it stays one
    t_first: float = float("inf")
    t_last: float = float("-inf")
    chain: list[str] = field(default_factory=list)
    bytes_out: int = 0
    last_payload: int = 0
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> VariantCounts:
        return VariantCounts(len(self.positions), len(self.decoys), len(self.listed), len(self.listed_decoys))

    def add(self, ix: RunIndex, hits: VariantHits) -> tuple[int, int]:
        """Count a view's hits; returns how many positions and decoys were new."""
        before = len(self.positions), len(self.decoys)
        fresh = [p for p in hits.positions.tolist() if p not in self.positions]
        room = MAX_TALLIED - len(self.positions)
        self.positions.update(fresh[:max(0, room)])
        if len(self.decoys) < MAX_TALLIED * len(DECOY_OFFSETS):
            self.decoys.update(hits.decoys.tolist()[:MAX_TALLIED * len(DECOY_OFFSETS) - len(self.decoys)])
        if fresh:
            share = len(fresh[:max(0, room)]) / len(fresh)
            self.matched_bytes += int(hits.matched_bytes * share)
            self.sids.update(np.unique(np.asarray(ix.var_sid[hits.rows])).tolist())
        return len(self.positions) - before[0], len(self.decoys) - before[1]

    def add_listed(self, real: np.ndarray, decoys: np.ndarray) -> tuple[int, int]:
        """Count a view's positions met alone; returns how many positions and decoys were new."""
        before = len(self.listed), len(self.listed_decoys)
        self.listed.update(real.tolist()[:max(0, MAX_TALLIED - len(self.listed))])
        self.listed_decoys.update(decoys.tolist()[:max(0, MAX_TALLIED * len(DECOY_OFFSETS) - len(self.listed_decoys))])
        return len(self.listed) - before[0], len(self.listed_decoys) - before[1]
