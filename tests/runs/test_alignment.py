"""BAM/CRAM/SAM via pysam: primary reads, read-group identifiers and samples, BGZF decoded bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam

from sandbox.runs import scan_run
from sandbox.runs.alignment import AlignmentFileReader

SAM = """@HD\tVN:1.6\tSO:unsorted
@RG\tID:rg1\tSM:Pt-0042-T\tLB:Lib-0042\tPU:HK35MCCXX.1.ACGT\tDS:runid=abc123 basecall_model=x
r1\t4\t*\t0\t0\t*\t*\t0\t0\tacgtnRYACGT\tFFFFFFFFFFF\tRG:Z:rg1
r1\t260\t*\t0\t0\t*\t*\t0\t0\t*\t*\tRG:Z:rg1
r2\t4\t*\t0\t0\t*\t*\t0\t0\tTTTTGGGG\tFFFFFFFF\tRG:Z:rg1
"""


def test_sam_and_bam_reads_identifiers_samples(run_dir: Path):
    (run_dir / "x.sam").write_text(SAM)
    pysam.view("-b", "-o", str(run_dir / "x.bam"), str(run_dir / "x.sam"), catch_stdout=False)
    (run_dir / "SampleSheet.csv").write_text("[Data]\nSample_ID,Sample_Name\nS-9,Pt-0042-T\n")
    scan = scan_run(run_dir)
    for f in (f for f in scan.files if isinstance(f, AlignmentFileReader)):
        assert list(f.reads()) == [b"ACGTNNNACGT", b"TTTTGGGG"]  # secondary record skipped
        ids = {(i.value, i.kind) for i in f.identifiers()}
        assert {("Pt-0042-T", "sample"), ("Lib-0042", "library"), ("HK35MCCXX.1.ACGT", "flowcell"),
                ("abc123", "run_id")} <= ids
        assert f.samples == ("S-9",)  # SM mapped to the sheet's Sample_ID through Sample_Name
    bam = next(f for f in scan.files if f.rel == "x.bam")
    assert b"".join(bam.decoded()) == gzip.decompress((run_dir / "x.bam").read_bytes())
    assert scan.errors == []


def test_real_bam_against_pysam(shared_data: Path):
    src = shared_data / "sequences/human/NA12891.over.fingerprints.r1.bam"
    f = next(f for f in scan_run(src.parent).files if f.rel == src.name)
    with pysam.AlignmentFile(str(src), "rb") as bam:
        rgs = bam.header.to_dict()["RG"]
        n_primary = sum(1 for r in bam.fetch(until_eof=True) if not r.flag & 0x900)
    reads = list(f.reads())
    assert len(reads) == n_primary == 751
    assert {i.value for i in f.identifiers() if i.kind == "flowcell"} == {rg["PU"] for rg in rgs}
