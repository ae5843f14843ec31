"""Conformance: every registered run format, on a real (or, where none is public, a typical) file.

Each format must: claim its file, stream bytes/Identifiers/upper-case ACGTN reads, give a tuple of
sample IDs, and survive truncated and garbage copies with error strings instead of exceptions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.runs import FORMATS, RunFile, classify, scan_run
from sandbox.runs.alignment import AlignmentFileReader
from sandbox.runs.bcl import BclFile
from sandbox.runs.cbcl import CbclFile
from sandbox.runs.fast5 import Fast5File
from sandbox.runs.fasta import FastaFile
from sandbox.runs.fastq import FastqFile
from sandbox.runs.interop import InterOpFile
from sandbox.runs.nanosheet import NanoporeSheetFile
from sandbox.runs.nanosummary import NanoporeSummaryFile
from sandbox.runs.pod5file import Pod5File
from sandbox.runs.runinfo import RunInfoFile
from sandbox.runs.runparams import RunParametersFile
from sandbox.runs.samplesheet import SampleSheetFile
from sandbox.runs.tilefiles import FilterFile, LocsFile
from sandbox.runs.vcf import VcfFile

from .conftest import copy_into, drain

MISEQ = "illumina/230825_M04034_0043_000000000-L6NVV"
PICARD = "illumina/picard_125T125T_hiseq_bcl/Data/Intensities"
BAMBI = "illumina/170407_A00103_0049_AH2CLFDMXX_bambi_subset/Data/Intensities/BaseCalls"
NANOPORE_SHEET = (
    "protocol_run_id,flow_cell_id,kit,sample_id,experiment_id,barcode,alias,type\n"
    "r1,FAL62557,SQK-NBD114-24,patient_batch_7,EXP_77,barcode01,patient_0042,test_sample\n"
    "r1,FAL62557,SQK-NBD114-24,patient_batch_7,EXP_77,barcode02,patient_0043,test_sample\n"
)
NANOPORE_SUMMARY = (
    "instrument=MN12345\nflow_cell_id=FAL62557\nsample_id=patient_batch_7\nprotocol_group_id=EXP_77\n"
    "acquisition_run_id=31352ede7f195ec493af20de221a95a4cc3683d2\nbasecalling_enabled=1\n"
)


def _copy(rel_src: str, rel_dst: str | None = None) -> Callable[[Path, Path], str]:
    def build(data: Path, run: Path) -> str:
        return copy_into(data / rel_src, run, rel_dst).relative_to(run).as_posix()
    return build


def _cycles(src_dir: str, lane: str, name: str, count: int) -> Callable[[Path, Path], str]:
    """The first ``count`` cycle folders of one tile, so reads() has something to stack."""
    def build(data: Path, run: Path) -> str:
        for c in range(1, count + 1):
            copy_into(data / src_dir / lane / f"C{c}.1" / name, run, f"Data/Intensities/BaseCalls/{lane}/C{c}.1/{name}")
        return f"Data/Intensities/BaseCalls/{lane}/C1.1/{name}"
    return build


def _text(rel: str, text: str) -> Callable[[Path, Path], str]:
    def build(data: Path, run: Path) -> str:
        (run / rel).write_text(text)
        return rel
    return build


# format -> (builder of a run folder holding one such file, truncation must be reported)
SAMPLES: dict[type[RunFile], tuple[Callable[[Path, Path], str], bool]] = {
    RunInfoFile: (_copy(f"{MISEQ}/RunInfo.xml"), True),
    RunParametersFile: (_copy(f"{MISEQ}/RunParameters.xml"), True),
    NanoporeSheetFile: (_text("sample_sheet.csv", NANOPORE_SHEET), False),
    NanoporeSummaryFile: (_text("final_summary_FAL62557_31352ede.txt", NANOPORE_SUMMARY), False),
    SampleSheetFile: (_copy(f"{MISEQ}/SampleSheet.csv"), False),
    BclFile: (_cycles(f"{PICARD}/BaseCalls", "L001", "s_1_1101.bcl", 3), True),
    CbclFile: (_cycles(BAMBI, "L001", "L001_1.cbcl", 3), True),
    FilterFile: (_copy(f"{PICARD}/BaseCalls/L001/s_1_1101.filter", "Data/Intensities/BaseCalls/L001/s_1_1101.filter"),
                 True),
    LocsFile: (_copy(f"{PICARD}/L001/s_1_1101.clocs", "Data/Intensities/L001/s_1_1101.clocs"), False),
    InterOpFile: (_copy(f"{MISEQ}/InterOp/TileMetricsOut.bin", "InterOp/TileMetricsOut.bin"), False),
    Pod5File: (_copy("nanopore/multi_fast5_zip_v3.pod5"), True),
    Fast5File: (_copy("nanopore/pod5-file-format_multi_fast5_zip.fast5"), True),
    AlignmentFileReader: (_copy("sequences/human/NA12891.over.fingerprints.r1.bam"), True),
    VcfFile: (_copy("sequences/human/NA12891.vcf.gz"), True),
    FastqFile: (_copy("sequences/sarscov2/illumina_test_1.fastq.gz"), True),
    FastaFile: (_copy("sequences/human/chrM.reference.fasta"), False),
}


def test_every_registered_format_has_a_conformance_sample():
    assert set(FORMATS) == set(SAMPLES)
    assert len(FORMATS) == len(set(FORMATS))


@pytest.fixture(params=FORMATS, ids=lambda c: c.__name__)
def sample(request, shared_data: Path, run_dir: Path):
    cls = request.param
    build, strict = SAMPLES[cls]
    rel = build(shared_data, run_dir)
    return cls, run_dir, rel, strict


def test_claims_its_file_and_streams(sample):
    cls, run, rel, _ = sample
    head = (run / rel).read_bytes()[:4096]
    assert cls.claim(rel, head)
    assert classify(rel, head) is cls
    scan = scan_run(run)
    f = next(f for f in scan.files if f.rel == rel)
    assert type(f) is cls and f.kind != "bytes"
    out = drain(scan)[rel]
    assert out["raw"] == (run / rel).stat().st_size
    assert all(re.fullmatch(rb"[ACGTN]*", r) for r in out["reads"])
    assert isinstance(f.samples, tuple) and all(isinstance(s, str) for s in f.samples)
    assert scan.errors == []


def test_truncated_copy_gives_error_strings_not_exceptions(sample):
    cls, run, rel, strict = sample
    path = run / rel
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    scan = scan_run(run)
    drain(scan)
    assert all(isinstance(e, str) and "\n" not in e for e in scan.errors)
    if strict:
        assert any(e.startswith(rel) for e in scan.errors), scan.errors


def test_garbage_copy_gives_error_strings_not_exceptions(sample):
    cls, run, rel, strict = sample
    path = run / rel
    path.write_bytes(os.urandom(max(64, path.stat().st_size)))
    scan = scan_run(run)
    drain(scan)
    if strict:
        assert any(e.startswith(rel) for e in scan.errors), scan.errors


def test_empty_file_gives_no_exception(sample):
    cls, run, rel, strict = sample
    (run / rel).write_bytes(b"")
    scan = scan_run(run)
    drain(scan)
    if strict and cls is not FastqFile:  # an empty FASTQ is a valid FASTQ with no reads
        assert scan.errors, cls
