"""Run folders of every platform (``sandbox simulate run``) pass our readers and third-party ones:
pysam for FASTQ and BAM, the pod5 package for POD5 signal, our CBCL reader for NovaSeq base calls."""

from __future__ import annotations

import gzip
from pathlib import Path

import pod5
import pysam
import pytest

from sandbox.runs import scan_run
from sandbox.simulate.payload import run_data
from sandbox.simulate.platforms import make_run
from sandbox.simulate.scenario import RunSpec

SAMPLES, READS = 2, 40
PLATFORMS = ("miseq", "novaseq", "nanopore")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    return {platform: make_run(RunSpec(platform, SAMPLES, READS, 4), tmp_path_factory.mktemp(platform))
            for platform in PLATFORMS}


@pytest.fixture(params=PLATFORMS)
def run(request, runs) -> tuple[str, Path]:
    return request.param, runs[request.param]


def fastq(path: Path) -> list[tuple[str, str]]:
    return [(r.name, r.sequence) for r in pysam.FastxFile(str(path))]


def test_our_readers_see_every_sample_without_error(run):
    platform, path = run
    scan = scan_run(path)
    assert not scan.errors
    assert scan.meta.platform == ("nanopore" if platform == "nanopore" else "illumina")
    data = run_data(path)
    assert len(data.samples) == SAMPLES and set(data.samples) <= set(scan.meta.sample_ids())
    kinds = {f.kind for f in scan.files}
    assert {"fastq", "alignment"} <= kinds
    assert {"miseq": "bcl", "novaseq": "cbcl", "nanopore": "pod5"}[platform] in kinds


def test_pysam_reads_the_fastqs_and_the_bams_hold_the_same_reads(run):
    platform, path = run
    data = run_data(path)
    from_fastq: dict[str, str] = {}
    for file in data.read_files:
        records = fastq(file)
        assert len(records) == READS
        from_fastq.update(records)
    bams = sorted(path.rglob("*.bam"))
    assert len(bams) == SAMPLES
    from_bam: dict[str, str] = {}
    for bam in bams:
        with pysam.AlignmentFile(str(bam), check_sq=False) as fh:
            assert fh.header.to_dict()["RG"]
            from_bam.update((r.query_name, r.query_sequence) for r in fh)
    assert from_bam == from_fastq


def test_novaseq_cbcls_hold_the_reads_of_the_fastqs(runs):
    path = runs["novaseq"]
    called = {read for f in scan_run(path).files if f.kind == "cbcl" for read in f.reads()}
    for file in run_data(path).read_files:
        seqs = gzip.decompress(file.read_bytes()).split(b"\n")[1::4]
        assert seqs and all(seq in called for seq in seqs)


def test_pod5_signal_has_a_read_for_every_basecalled_read(runs):
    path = runs["nanopore"]
    ids = set()
    for file in sorted(path.rglob("*.pod5")):
        with pod5.Reader(file) as reader:
            for read in reader.reads():
                assert len(read.signal) > 0
                ids.add(str(read.read_id))
    called = {name for file in run_data(path).read_files for name, _ in fastq(file)}
    assert called and called <= ids
