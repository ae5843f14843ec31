"""Unaligned BAM (uBAM) of simulated reads, written with pysam (htslib): what a uBAM workflow or
MinKNOW's ``bam_pass`` keeps beside FASTQ.  Deterministic for a given htslib (no timestamps inside)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dna import ALPHABET

UNMAPPED = 4   # SAM flag: segment unmapped


def write_unaligned_bam(path: Path, sample: str, platform: str, headers: list[bytes], reads: np.ndarray | list,
                        quals: np.ndarray | list, tags: list[list[tuple[str, str]]] | None = None) -> None:
    """One read group (``sample``) of unmapped reads; ``headers`` are the FASTQ header lines (``@name ...``)."""
    import pysam

    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"HD": {"VN": "1.6", "SO": "unsorted"},
              "RG": [{"ID": sample, "SM": sample, "PL": platform}],
              "PG": [{"ID": "sandbox-simulate", "PN": "sandbox-simulate", "VN": "1"}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for n, (head, seq, qual) in enumerate(zip(headers, reads, quals, strict=True)):
            rec = pysam.AlignedSegment(out.header)
            rec.query_name = head[1:].split(b" ", 1)[0].decode()
            rec.flag = UNMAPPED
            rec.query_sequence = ALPHABET[seq].tobytes().decode() if isinstance(seq, np.ndarray) else seq.decode()
            rec.query_qualities = pysam.qualitystring_to_array(
                (np.asarray(qual, dtype=np.uint8) + 33).tobytes().decode())
            rec.set_tag("RG", sample)
            for key, value in (tags[n] if tags else []):
                rec.set_tag(key, value)
            out.write(rec)
