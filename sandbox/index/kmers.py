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
import re
from bisect import bisect_left

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

# A run starts with >= K letters (so common short words such as "cat" never reach Python), and may
# continue over line breaks (wrapped FASTA).
_RUN = re.compile(rb"[ACGTNacgtn]{%d,}(?:\r?\n[ACGTNacgtn]+)*" % K)
# Bytes of a run as 1, everything else 0: a run of >= K (31) letters covers a whole 16-byte aligned
# block, so blocks of sixteen 1s (two uint64 words of 0x01 bytes) are the only places to look.
_LETTERS = bytes(int(c in b"ACGTNacgtn") for c in range(256))
_STEP = 16  # bytes per aligned block: any K consecutive bytes contain one (K >= 2 * _STEP - 1)
_ONES = np.uint64(0x0101010101010101)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values by one sort (numpy 2's hash-based ``np.unique`` is far slower on
    millions of uint64 here)."""
    out = np.sort(values)
    if len(out) > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def canonical(seq: bytes, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """Canonical k-mers of every valid window of ``seq`` (those without N or other letters).

    Returns (kmers, starts): starts are window offsets in ``seq``.
    """
    windows = max(len(seq) - k + 1, 0)
    kmers = np.empty(windows, dtype=np.uint64)
    starts = np.empty(windows, dtype=np.int64)
    count = _kernels.canonical(seq, k, kmers, starts)
    return kmers[:count], starts[:count]


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


def contains(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin`` for a small sorted table: one binary search per value, no sort of ``values``."""
    if not len(table):
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(table, values), len(table) - 1)
    return table[pos] == values


def kmer_hash(kmers: np.ndarray) -> np.ndarray:
    """Hash for FracMinHash sampling (uniform over uint64, independent of base composition)."""
    return mix64(kmers.copy())


def dna_runs(data: bytes, k: int = K) -> list[tuple[int, bytes]]:
    """(offset, bases) of every run of ACGTN letters >= k long; line breaks inside a run are joined
    (wrapped FASTA), so offsets are where the run starts in ``data``.

    The regex runs only where a run can start: at the first letter before an all-letter aligned
    block (found by one translate and one word comparison), so binary and text cost no regex pass.
    """
    out = []
    for m in _run_matches(data):
        if m.end() - m.start() < k:
            continue
        seq = m.group()
        if b"\n" in seq:
            seq = seq.replace(b"\r", b"").replace(b"\n", b"")
            if len(seq) < k:
                continue
        out.append((m.start(), seq))
    return out


def _run_matches(data: bytes) -> list[re.Match]:
    """``list(_RUN.finditer(data))`` without scanning the bytes that cannot start a match.

    A match's first line holds >= K letters, so it covers an all-letter block; the match starts
    where the letters before the first such block (not inside an earlier match) begin.
    """
    usable = len(data) // _STEP * _STEP
    if usable < _STEP:
        return []
    flags = data.translate(_LETTERS)
    words = np.frombuffer(flags, dtype=np.uint64, count=usable // 8).reshape(-1, 2) == _ONES
    blocks = (np.flatnonzero(words[:, 0] & words[:, 1]) * _STEP).tolist()
    out = []
    end = 0  # where the regex would resume: data[end] is not a letter (unless end == 0)
    i = 0
    while i < len(blocks):
        at = blocks[i]
        start = max(flags.rfind(b"\0", end, at) + 1, end)
        m = _RUN.match(data, start)
        if m is not None:
            out.append(m)
            end = m.end()
        else:  # fewer than K letters from start: no match can start before the run's end
            stop = flags.find(b"\0", at)
            end = len(data) if stop < 0 else stop
        i = bisect_left(blocks, end, i)
    return out
