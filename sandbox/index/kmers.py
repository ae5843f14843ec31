"""Canonical DNA k-mers: 2-bit packed (by the compiled kernels), with a low-complexity and adapter filter.

A k-mer is packed first base in the high bits (A=0, C=1, G=2, T=3) and made canonical as
min(forward, reverse complement), so a read matches whichever strand a payload carries.
Low-complexity k-mers (homopolymers, short tandem repeats, strongly skewed composition) and the
k-mers of common library adapters never count as evidence: they occur in unrelated data.
PhiX (Illumina's control spike-in) is deliberately *not* removed: its reads are in the run, and a
PhiX upload from the instrument still says that run data left; reviewers should know that a match
on PhiX alone is a control library, which the finding's samples (none) show.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np

from . import _kernels
from .winnow import mix64

K = 31  # bases: 62 bits, the usual exact-match k (Kraken, sourmash); random 31-mers do not collide
# Periods (bases) of short tandem repeats caught by the filter: homopolymers to hexamer repeats.
LC_PERIODS = tuple(range(1, 7))
LC_MISMATCHES = 3  # a repeat with up to 3 broken bases in 31 is still a repeat (sequencing errors)
LC_ENTROPY = 1.0  # bits: base-composition entropy below this (e.g. 28 A + 3 other) is low complexity
if (_kernels.LC_PERIODS, _kernels.LC_MISMATCHES) != (len(LC_PERIODS), LC_MISMATCHES):
    raise ImportError("sandbox.index._kernels was built from another version of _kernels.c: run `make setup`")

# Library adapters and primers (public Illumina / Nanopore documentation): their k-mers appear in
# every lab's reads (adapter read-through), so they say nothing about *this* run.
ADAPTERS = (
    "AGATCGGAAGAGCACACGTCTGAACTCCAGTCAC",  # TruSeq read 1 adapter
    "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGTAGATCTCGGTGGTCGCCGTATCATT",  # TruSeq read 2 adapter
    "AATGATACGGCGACCACCGAGATCTACACTCTTTCCCTACACGACGCTCTTCCGATCT",  # TruSeq universal adapter (P5)
    "GATCGGAAGAGCACACGTCTGAACTCCAGTCACATCTCGTATGCCGTCTTCTGCTTG",  # TruSeq indexed adapter (P7 side)
    "CAAGCAGAAGACGGCATACGAGATGTGACTGGAGTTCAGACGTGTGCTCTTCCGATCT",  # P7 + read 2 primer
    "TCGTCGGCAGCGTCAGATGTGTATAAGAGACAG",  # Nextera read 1 (Tn5 ME)
    "GTCTCGTGGGCTCGGAGATGTGTATAAGAGACAG",  # Nextera read 2 (Tn5 ME)
    "CTGTCTCTTATACACATCTCCGAGCCCACGAGAC",  # Nextera read-through, read 1
    "CTGTCTCTTATACACATCTGACGCTGCCGACGA",  # Nextera read-through, read 2
    "AATGATACGGCGACCACCGAGATCTACAC",  # P5 grafting primer
    "CAAGCAGAAGACGGCATACGAGAT",  # P7 grafting primer
    "TGGAATTCTCGGGTGCCAAGGAACTCCAGTCAC",  # TruSeq small RNA 3' adapter
    "TTTTTTTTCCTGTACTTCGTTCAGTTACGTATTGCT",  # ONT ligation adapter (Y-adapter top strand)
    "GCAATACGTAACTGAACGAAGTACAGG",  # ONT ligation adapter bottom strand
    "AATGTACTTCGTTCAGTTACGTATTGCT",  # ONT rapid adapter
)

def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values by one sort (numpy 2's hash-based ``np.unique`` is far slower on
    millions of uint64 here)."""
    out = np.sort(values)
    if len(out) > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def canonical(seq: bytes, k: int = K, *, starts: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Canonical k-mers of every valid window of ``seq`` (those without N or other letters).

    Returns (kmers, starts): starts are window offsets in ``seq`` (empty if not wanted).
    """
    windows = max(len(seq) - k + 1, 0)
    kmers = np.empty(windows, dtype=np.uint64)
    places = np.empty(windows if starts else 0, dtype=np.int64)
    count = _kernels.canonical(seq, k, kmers, places)
    return kmers[:count], places[:count]


def canonical_at(seq: bytes | np.ndarray, stride: int, k: int = K) -> np.ndarray:
    """Canonical k-mers of the windows starting every ``stride`` bases (those made only of ACGT):
    a few k-mers of a long sequence at their own cost, not a pass over it."""
    windows = (len(seq) - k) // stride + 1 if len(seq) >= k else 0
    kmers = np.empty(windows, dtype=np.uint64)
    return kmers[:_kernels.canonical_at(seq, k, stride, kmers)]


@functools.cache
def _low_entropy_table(k: int) -> np.ndarray:
    """True at [(a * (k+1) + c) * (k+1) + g] when base counts a, c, g, t = k-a-c-g have entropy < LC_ENTROPY."""
    a, c, g = np.meshgrid(*[np.arange(k + 1)] * 3, indexing="ij")
    t = k - a - c - g
    counts = np.stack([a, c, g, np.maximum(t, 0)]).astype(np.float64) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(counts > 0, counts * np.log2(counts), 0.0).sum(axis=0)
    return ((ent < LC_ENTROPY) & (t >= 0)).ravel()


def _adapter_kmers() -> np.ndarray:
    parts = [canonical(a.encode())[0] for a in ADAPTERS]
    return sorted_unique(np.concatenate(parts))


ADAPTER_KMERS = _adapter_kmers()


def evidence_mask(kmers: np.ndarray) -> np.ndarray:
    """True for k-mers that may count as evidence: not low complexity (near-periodic with period
    <= 6, or of low base-composition entropy) and not an adapter's."""
    kmers = np.ascontiguousarray(kmers, dtype=np.uint64)
    out = np.empty(len(kmers), dtype=bool)
    _kernels.evidence(kmers, K, _low_entropy_table(K), ADAPTER_KMERS, out)
    return out


def patterns(kmers: np.ndarray) -> np.ndarray:
    """The reading-blind form of each k-mer (``_kernels.patterns``): the same whichever four symbols
    wrote its bases, reversed or complemented; hashed, so tables of them are uniform."""
    kmers = np.ascontiguousarray(kmers, dtype=np.uint64)
    out = np.empty(len(kmers), dtype=np.uint64)
    _kernels.patterns(kmers, K, out)
    return out


def contains(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin`` for a small sorted table: one binary search per value, no sort of ``values``."""
    if not len(table):
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(table, values), len(table) - 1)
    return table[pos] == values


def kmer_hash(kmers: np.ndarray) -> np.ndarray:
    """Hash for FracMinHash sampling (uniform over uint64, independent of base composition)."""
    return mix64(kmers.copy())


@dataclass(frozen=True)
class DnaRuns:
    """The runs of DNA letters in a view (line breaks inside a run removed), joined with an N
    between runs, so one k-mer pass covers all of them and no k-mer spans two."""

    joined: np.ndarray  # uint8
    offsets: np.ndarray  # int64: where each run starts in the view
    starts: np.ndarray  # int64: where each run starts in ``joined``
    lengths: np.ndarray  # int64
    # where each run ends in the view, for runs of symbols that are not one byte each (``symbol_runs``)
    ends: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets)

    def run_of(self, pos: np.ndarray) -> np.ndarray:
        """Run number of positions in ``joined``."""
        return np.searchsorted(self.starts, pos, side="right") - 1

    def view_offset(self, pos: int) -> int:
        """Offset in the view of a position in ``joined`` (exact on the run's first line; for runs
        of other symbols, in proportion to their span)."""
        run = int(self.run_of(np.array([pos]))[0])
        into = min(max(pos - int(self.starts[run]), 0), int(self.lengths[run]))
        if self.ends is None:
            return int(self.offsets[run]) + into
        span = int(self.ends[run] - self.offsets[run])
        return int(self.offsets[run]) + into * span // max(int(self.lengths[run]), 1)


# How bases may be written other than as letters (``symbol_runs``): the kernel's modes.
SYMBOL_MODES = {"bytes": 0, "spaced bytes": 1, "half bytes, high first": 2, "half bytes, low first": 3}
# Symbols a run of them needs: a window needs MIN_KMERS (20) k-mers, 50 bases of reads; shorter runs
# are not looked for (the scan probes this many symbols apart).
SYMBOL_RUN_MIN = 48


def symbol_runs(data: bytes, mode: str, k: int = SYMBOL_RUN_MIN) -> DnaRuns:
    """Runs of >= k symbols made of exactly four distinct ones, as bases: each run's symbols named
    A, C, G, T in their sorted order (a reading of them; ``sandbox.correlate.sequence`` tries the
    others).  ``mode`` (SYMBOL_MODES) says what a symbol is: a byte (letters in either case; runs
    of the letters ACGT themselves are left to ``dna_runs``), a text byte with separators between
    them skipped (NUL, white space, punctuation: UTF-16, CSV, spaced groups), or a half byte (BAM's
    4-bit bases, either order)."""
    joined, runs = _symbol_scratch(2 * len(data) + 2 * len(data) // k + 1, 2 * len(data) // k + 1)
    count, size = _kernels.symbol_runs(data, k, SYMBOL_MODES[mode], joined, runs)
    if not count:
        return _NO_RUNS
    rows = runs[:count]
    return DnaRuns(joined[:size].copy(), rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(), rows[:, 3].copy())


# Each byte as its four two-bit symbols, named A, C, G, T by value: the high bits first, or the low.
_TWO_BITS = {high_first: np.frombuffer(b"ACGT", dtype=np.uint8)[
    (np.arange(256, dtype=np.uint8)[:, None] >> np.array(shifts, dtype=np.uint8)) & 3]
    for high_first, shifts in ((True, (6, 4, 2, 0)), (False, (0, 2, 4, 6)))}


def two_bit_runs(data: bytes, high_first: bool) -> DnaRuns:
    """The bytes of ``data`` as four two-bit symbols each, the high bits of a byte first or the low,
    as one run: bases packed four to a byte (as UCSC's .2bit and vendors' compact formats pack them),
    the symbols 0-3 named A, C, G, T (a reading of them; the correlator tries the others)."""
    if not data:
        return _NO_RUNS
    joined = _TWO_BITS[high_first][np.frombuffer(data, dtype=np.uint8)].reshape(-1)
    one = np.zeros(1, dtype=np.int64)
    return DnaRuns(joined, one, one.copy(), np.array([len(joined)], dtype=np.int64),
                   np.array([len(data)], dtype=np.int64))


def two_bit_forms(data: bytes, stride: int, k: int = K) -> np.ndarray:
    """The reading-blind forms (``patterns``) of every ``stride``-th k-mer of ``data`` read as bases
    packed two bits each, in both bit orders: a probe for packed bases in one compiled pass."""
    windows = (4 * len(data) - k) // stride + 1 if 4 * len(data) >= k else 0
    out = np.empty(2 * windows, dtype=np.uint64)
    return out[:_kernels.two_bit_forms(data, k, stride, 3, out)]


_NO_RUNS = DnaRuns(*(np.empty(0, dtype=t) for t in (np.uint8, np.int64, np.int64, np.int64, np.int64)))
_scratch = threading.local()


def _symbol_scratch(size: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's output buffers for ``symbol_runs``, grown as needed (most views have no run:
    nothing is copied out, and nothing is allocated per call)."""
    joined, runs = getattr(_scratch, "buffers", (np.empty(0, np.uint8), np.empty((0, 4), np.int64)))
    if len(joined) < size or len(runs) < rows:
        joined = np.empty(max(size, len(joined)), dtype=np.uint8)
        runs = np.empty((max(rows, len(runs)), 4), dtype=np.int64)
        _scratch.buffers = joined, runs
    return joined, runs


def dna_runs(data: bytes, k: int = K) -> DnaRuns:
    """Every run of ACGTN letters (either case) whose first line holds >= k of them, continued
    over line breaks (wrapped FASTA): what ``[ACGTNacgtn]{k,}(?:\\r?\\n[ACGTNacgtn]+)*`` matches,
    but for runs of one letter repeated (poly-A, NNNN): their one k-mer is never evidence."""
    joined = np.empty(len(data) + len(data) // k, dtype=np.uint8)
    runs = np.empty((len(data) // k + 1, 3), dtype=np.int64)
    count, size = _kernels.dna_runs(data, k, joined, runs)
    runs = runs[:count]
    return DnaRuns(joined[:size], runs[:, 0].copy(), runs[:, 1].copy(), runs[:, 2].copy())
