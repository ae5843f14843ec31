"""Reads written otherwise than as ACGT letters, uploaded to an allowed destination, replay as a leak.

Each of these replayed clean before: the reads complemented, written as RNA, as digits, and as an
unaligned BAM (gzip-compressed BGZF, its bases half bytes) as Picard's FastqToSam makes of a FASTQ.
"""

from __future__ import annotations

import gzip
import json

import pysam

from sandbox.simulate.novaseq import make_novaseq_run
from tests.hostile.uploads import sequence_leak


def test_reads_written_otherwise_replay_as_a_leak(tmp_path):
    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    lines = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()]
    seqs, quals = lines[1::4][:300], lines[3::4][:300]
    bam = tmp_path / "reads.bam"
    with pysam.AlignmentFile(str(bam), "wb", header={"HD": {"VN": "1.6", "SO": "unsorted"}}) as out:
        for n, (seq, qual) in enumerate(zip(seqs, quals, strict=True)):
            rec = pysam.AlignedSegment(out.header)
            rec.query_name, rec.flag, rec.query_sequence = str(n), 4, seq.decode()
            rec.query_qualities = pysam.qualitystring_to_array(qual.decode())
            out.write(rec)
    bodies = {
        "complement": b"\n".join(s.translate(bytes.maketrans(b"ACGT", b"TGCA")) for s in seqs),
        "rna": json.dumps({"reads": [s.replace(b"T", b"U").decode() for s in seqs]}).encode(),
        "digits": b"\n".join(s.translate(bytes.maketrans(b"ACGT", b"0123")) for s in seqs),
        "unaligned bam": bam.read_bytes(),
    }
    for name, body in bodies.items():
        leak = sequence_leak(tmp_path, run, name, body)
        assert all("recoded" in e for e in leak["evidence"] if e["kind"] == "sequence"), name
