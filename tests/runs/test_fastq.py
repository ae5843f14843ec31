"""FASTQ(.gz): reads, sample mapping for every Illumina output layout, nanopore header identifiers."""

from __future__ import annotations

import gzip
from pathlib import Path

from sandbox.runs import scan_run
from sandbox.runs.fastq import FastqFile

SHEET = """[Header]
IEMFileVersion,4
Experiment Name,EXP_2023_117
[Data]
Lane,Sample_ID,Sample_Name,Sample_Project,index,index2
1,S-001,tumour_A,ProjX,ACGTACGT,TTGGCCAA
1,S-002,normal_A,ProjX,CCGTACGT,TTGGCCAA
1,S-003,,ProjY,GCGTACGT,TTGGCCAA
"""
RECORDS = b"@r1 1:N:0:1\nACGTNacgtRYK\n+\nFFFFFFFFFFFF\n@r2\nTTTT\n+\nFFFF\n"


def _run(tmp: Path, files: list[str], sheet: str = SHEET) -> dict[str, tuple[str, ...]]:
    (tmp / "SampleSheet.csv").write_text(sheet)
    for rel in files:
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(RECORDS) if rel.endswith(".gz") else RECORDS)
    scan = scan_run(tmp)
    assert scan.errors == []
    return {f.rel: f.samples for f in scan.files if isinstance(f, FastqFile)}


def test_sample_mapping_across_demultiplexer_layouts(run_dir: Path):
    got = _run(run_dir, [
        "Data/Intensities/BaseCalls/tumour_A_S1_L001_R1_001.fastq.gz",          # MiSeq Reporter (Sample_Name)
        "Analysis/1/Data/fastq/S-002_S2_L001_R2_001.fastq.gz",                  # BCL Convert (Sample_ID)
        "Alignment_1/20230825_120000/Fastq/S-003_S3_L001_I1_001.fastq.gz",      # MiSeq Alignment folder
        "Unaligned/ProjX/S-001/renamed_S9_L001_R1_001.fastq.gz",                # bcl2fastq Project/Sample_ID
        "Unaligned/Project_ProjX/Sample_S-002/S-002_ACGTACGT_L001_R1_001.fastq.gz",  # CASAVA 1.8
        "Data/Intensities/BaseCalls/unknown_S3_R1_001.fastq.gz",                # only the S number is known
        "Data/Intensities/BaseCalls/Undetermined_S0_L001_R1_001.fastq.gz",
        "other/reads.fq",
    ])
    assert got == {
        "Data/Intensities/BaseCalls/tumour_A_S1_L001_R1_001.fastq.gz": ("S-001",),
        "Analysis/1/Data/fastq/S-002_S2_L001_R2_001.fastq.gz": ("S-002",),
        "Alignment_1/20230825_120000/Fastq/S-003_S3_L001_I1_001.fastq.gz": ("S-003",),
        "Unaligned/ProjX/S-001/renamed_S9_L001_R1_001.fastq.gz": ("S-001",),
        "Unaligned/Project_ProjX/Sample_S-002/S-002_ACGTACGT_L001_R1_001.fastq.gz": ("S-002",),
        "Data/Intensities/BaseCalls/unknown_S3_R1_001.fastq.gz": ("S-003",),
        "Data/Intensities/BaseCalls/Undetermined_S0_L001_R1_001.fastq.gz": (),
        "other/reads.fq": (),
    }


def test_reads_are_upper_case_acgtn_plain_and_gz(run_dir: Path):
    (run_dir / "a.fastq").write_bytes(RECORDS.replace(b"\n", b"\r\n"))
    (run_dir / "b.fastq.gz").write_bytes(gzip.compress(RECORDS))
    scan = scan_run(run_dir)
    for f in scan.files:
        assert list(f.reads()) == [b"ACGTNACGTNNN", b"TTTT"]
        assert [r for batch in f.read_batches() for r in batch] == [b"ACGTNACGTNNN", b"TTTT"]
    gz = next(f for f in scan.files if f.rel == "b.fastq.gz")
    assert b"".join(gz.decoded()) == RECORDS
    assert scan.errors == []


def test_truncated_and_malformed_fastq_are_error_strings(run_dir: Path):
    (run_dir / "cut.fastq").write_bytes(RECORDS[:-12])
    (run_dir / "bad.fastq").write_bytes(b"@r1\nACGT\nnot-plus\nFFFF\n")
    (run_dir / "cut.fastq.gz").write_bytes(gzip.compress(RECORDS * 1000)[:-30])
    scan = scan_run(run_dir)
    for f in scan.files:
        list(f.reads())
    assert len(scan.errors) == 3
    assert any("dangling" in e for e in scan.errors) and any("'+'" in e for e in scan.errors)


def test_nanopore_headers_give_identifiers_and_platform(run_dir: Path):
    head = (b"@a1b2 runid=5c76f4079ee8 read=1 ch=332 flow_cell_id=FAQ12345 sample_id=patient_0042 "
            b"protocol_group_id=EXP_9 barcode=barcode01\nACGT\n+\n!!!!\n")
    (run_dir / "reads.fastq").write_bytes(head * 3)
    scan = scan_run(run_dir)
    (f,) = scan.files
    ids = {(i.value, i.kind) for i in f.identifiers()}
    assert {("5c76f4079ee8", "run_id"), ("FAQ12345", "flowcell"), ("patient_0042", "sample"),
            ("EXP_9", "experiment"), ("barcode01", "barcode")} == ids
    assert scan.meta.platform == "nanopore" and scan.meta.run_id == "5c76f4079ee8"
    assert scan.meta.sample_ids() == ["patient_0042"] and f.samples == ("patient_0042",)


def test_real_nanopore_fastq_reads_and_runid(shared_data: Path):
    src = shared_data / "nanopore" / "dorado_dataset.fastq"
    lines = src.read_bytes().split(b"\n")
    scan = scan_run(src.parent)
    f = next(f for f in scan.files if f.rel == src.name)
    assert list(f.reads()) == [s.upper() for s in lines[1::4] if s or False][: len(lines) // 4]
    assert len(list(f.reads())) == 76
    assert {i.value for i in f.identifiers()} == {lines[0].split(b"runid=")[1].split()[0].decode()}


def test_newline_free_garbage_stops_at_the_line_limit(run_dir: Path, monkeypatch):
    monkeypatch.setattr("sandbox.runs.textio.MAX_LINE", 1000)
    monkeypatch.setattr("sandbox.runs.textio.CHUNK", 512)
    (run_dir / "junk.fastq").write_bytes(b"@" + b"A" * 5000)
    scan = scan_run(run_dir)
    assert list(scan.files[0].reads()) == []
    assert scan.errors == ["junk.fastq: reads: RunFileError: line longer than 1000 bytes"]
