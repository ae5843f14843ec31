"""MinKNOW sample sheet: barcode -> alias samples, applied to fastq_pass/barcodeNN folders."""

from __future__ import annotations

import gzip
from pathlib import Path

from sandbox.runs import scan_run

SHEET = ("flow_cell_id,kit,sample_id,experiment_id,barcode,alias,type\n"
         "FAL62557,SQK-NBD114-24,batch_7,EXP_77,barcode01,patient_0042,test_sample\n"
         "FAL62557,SQK-NBD114-24,batch_7,EXP_77,barcode02,patient_0043,test_sample\n")


def test_barcode_folders_map_to_aliases(run_dir: Path):
    (run_dir / "sample_sheet_FAL62557.csv").write_text(SHEET)
    rec = gzip.compress(b"@r runid=77aa flow_cell_id=FAL62557 sample_id=batch_7\nACGT\n+\n!!!!\n")
    for rel in ("fastq_pass/barcode01/FAL62557_pass_barcode01_77aa_0.fastq.gz",
                "fastq_pass/barcode02/FAL62557_pass_barcode02_77aa_0.fastq.gz",
                "fastq_pass/unclassified/FAL62557_pass_unclassified_77aa_0.fastq.gz"):
        (run_dir / rel).parent.mkdir(parents=True)
        (run_dir / rel).write_bytes(rec)
    scan = scan_run(run_dir)
    meta = scan.meta
    assert meta.platform == "nanopore" and meta.sample_ids() == ["patient_0042", "patient_0043"]
    assert (meta.run_id, meta.flowcell, meta.experiment) == ("77aa", "FAL62557", "EXP_77")
    got = {f.rel.split("/")[1]: f.samples for f in scan.files if f.kind == "fastq"}
    assert got == {"barcode01": ("patient_0042",), "barcode02": ("patient_0043",), "unclassified": ()}
    assert scan.errors == []
