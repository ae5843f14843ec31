"""Sequences, reads and quality strings for simulated runs: vectorised numpy, seeded, deterministic.

Bases travel as uint8 codes (A=0, C=1, G=2, T=3, N=4) so the same arrays feed FASTQ text and BCL
bytes (whose low two bits use the same code).
"""

from __future__ import annotations

import gzip

import numpy as np

ALPHABET = np.frombuffer(b"ACGTN", dtype=np.uint8)
N_CODE = 4
# Sequencing error rate per base: MiSeq v3 chemistry is ~0.1-0.5%; 0.3% keeps reads mappable.
ERROR_RATE = 0.003
# No-call rate: RTA writes N (BCL byte 0) for a small share of calls, mostly in the first cycles.
N_RATE = 0.0005
# Phred range RTA 1.18 (MiSeq) writes: Q2 for no-calls, up to Q38 ('G').
Q_MIN, Q_MAX = 2, 38
# Gzip level bcl2fastq / BCL Convert use by default; fixed so output is byte-identical run to run.
GZIP_LEVEL = 4

_COMPLEMENT = bytes.maketrans(b"ACGTNacgtn", b"TGCANtgcan")


def revcomp(seq: bytes) -> bytes:
    """Reverse complement of an ACGTN sequence."""
    return seq.translate(_COMPLEMENT)[::-1]


def random_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniformly random base codes (0..3): a genome no real sequence shares k-mers with."""
    return rng.integers(0, 4, size=n, dtype=np.uint8)


def codes_to_bytes(codes: np.ndarray) -> bytes:
    return ALPHABET[codes].tobytes()


def sample_reads(rng: np.random.Generator, genome: np.ndarray, n: int, length: int,
                 error_rate: float = ERROR_RATE, n_rate: float = N_RATE) -> np.ndarray:
    """``n`` reads of ``length`` codes from random positions and strands of ``genome`` (2-D array)."""
    starts = rng.integers(0, len(genome) - length + 1, size=n)
    reads = genome[starts[:, None] + np.arange(length)[None, :]]
    reverse = rng.random(n) < 0.5
    reads[reverse] = 3 - reads[reverse, ::-1]
    errors = rng.random(reads.shape) < error_rate
    reads[errors] = (reads[errors] + rng.integers(1, 4, size=int(errors.sum()), dtype=np.uint8)) % 4
    reads[rng.random(reads.shape) < n_rate] = N_CODE
    return reads


def qualities(rng: np.random.Generator, reads: np.ndarray) -> np.ndarray:
    """Phred scores shaped like a MiSeq run: high early, a quadratic fall toward the 3' end, Q2 on N."""
    n, length = reads.shape
    pos = np.arange(length) / max(length - 1, 1)
    mean = 36.5 - 9.0 * pos**2
    per_read = rng.normal(0.0, 1.5, size=(n, 1))  # some clusters are better than others
    q = np.rint(mean[None, :] + per_read + rng.normal(0.0, 2.5, size=(n, length)))
    dips = rng.random((n, length)) < 0.01  # occasional low-confidence calls (bubbles, phasing)
    q[dips] = rng.integers(8, 20, size=int(dips.sum()))
    q = np.clip(q, Q_MIN + 1, Q_MAX).astype(np.uint8)
    q[reads == N_CODE] = Q_MIN
    return q


def fastq(headers: list[bytes], reads: np.ndarray, quals: np.ndarray) -> bytes:
    """FASTQ text of 4-line records; sequence and quality rows are converted in one numpy pass each."""
    length = reads.shape[1]
    seq = ALPHABET[reads].tobytes()
    qual = (quals + 33).astype(np.uint8).tobytes()
    return b"".join(
        b"%s\n%s\n+\n%s\n" % (h, seq[i * length:(i + 1) * length], qual[i * length:(i + 1) * length])
        for i, h in enumerate(headers)
    )


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with mtime 0 and no file name, so the same input gives the same bytes every time."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
