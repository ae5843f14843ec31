"""MinKNOW final_summary: run, flow cell, device and sample for a folder of plain FASTQ / BAM."""

from __future__ import annotations

from pathlib import Path

import pysam

from sandbox.runs import scan_run

SUMMARY = """instrument=MN12345
position=
flow_cell_id=FAL62557
sample_id=patient_batch_7
protocol_group_id=EXP_77
protocol=sequencing/sequencing_MIN106_DNA:FLO-MIN106:SQK-LSK109
protocol_run_id=8ca29827-0a5f-4f5b-b435-1b7e71a37fe8
acquisition_run_id=31352ede7f195ec493af20de221a95a4cc3683d2
started=2021-03-04T10:12:13.123+00:00
basecalling_enabled=1
fastq_files_in_final_dest=4
"""


def test_summary_fills_meta_and_single_sample(run_dir: Path):
    (run_dir / "final_summary_FAL62557_31352ede.txt").write_text(SUMMARY)
    (run_dir / "bam_pass").mkdir()
    header = {"HD": {"VN": "1.6"}, "RG": [{"ID": "x", "DS": "runid=31352ede basecall_model=fast"}]}
    with pysam.AlignmentFile(str(run_dir / "bam_pass/reads_0.bam"), "wb", header=header) as out:
        seg = pysam.AlignedSegment(out.header)
        seg.query_name, seg.query_sequence, seg.flag = "r1", "ACGTACGT", 4
        out.write(seg)
    scan = scan_run(run_dir)
    meta = scan.meta
    assert (meta.platform, meta.run_id, meta.flowcell, meta.instrument, meta.experiment) == (
        "nanopore", "31352ede7f195ec493af20de221a95a4cc3683d2", "FAL62557", "MN12345", "EXP_77")
    assert meta.sample_ids() == ["patient_batch_7"]
    bam = next(f for f in scan.files if f.kind == "alignment")
    assert bam.samples == ("patient_batch_7",) and list(bam.reads()) == [b"ACGTACGT"]
    assert scan.errors == []


def test_summary_without_known_keys_is_an_error(run_dir: Path):
    (run_dir / "final_summary_x.txt").write_text("hello=world\n")
    assert scan_run(run_dir).errors == [
        "final_summary_x.txt: RunFileError: final summary has none of instrument, flow_cell_id, sample_id, "
        "acquisition_run_id"]
