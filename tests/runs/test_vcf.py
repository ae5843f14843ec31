"""VCF / VCF.gz: sample columns as samples and identifiers, BGZF decoded bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

from sandbox.runs import scan_run
from sandbox.runs.vcf import VcfFile

from .conftest import copy_into


def test_sample_columns_map_to_sheet_ids(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "sequences/human/CEUTrio-snps.vcf", run_dir)
    copy_into(shared_data / "sequences/human/NA12891.vcf.gz", run_dir)
    (run_dir / "SampleSheet.csv").write_text("[Data]\nSample_ID,Sample_Name\nS1,NA12891\n")
    scan = scan_run(run_dir)
    vcfs = {f.rel: f for f in scan.files if isinstance(f, VcfFile)}
    header = next(line for line in (run_dir / "CEUTrio-snps.vcf").read_text().splitlines() if line.startswith("#CHROM"))
    assert [i.value for i in vcfs["CEUTrio-snps.vcf"].identifiers()] == header.split("\t")[9:]
    assert vcfs["CEUTrio-snps.vcf"].samples == ("NA12878", "S1", "NA12892")
    assert vcfs["NA12891.vcf.gz"].samples == ("S1",)
    assert b"".join(vcfs["NA12891.vcf.gz"].decoded()) == gzip.open(run_dir / "NA12891.vcf.gz").read()
    assert list(vcfs["CEUTrio-snps.vcf"].decoded()) == [] and scan.errors == []


def test_records_are_the_variants(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "sequences/human/CEUTrio-snps.vcf", run_dir)
    copy_into(shared_data / "sequences/human/NA12891.vcf.gz", run_dir)
    scan = scan_run(run_dir)
    vcfs = {f.rel: f for f in scan.files if isinstance(f, VcfFile)}
    rows = [line.split("\t") for line in (run_dir / "CEUTrio-snps.vcf").read_text().splitlines() if line[0] != "#"]
    assert list(vcfs["CEUTrio-snps.vcf"].variants()) == [(int(r[1]), r[3], tuple(r[4].split(","))) for r in rows]
    assert list(vcfs["NA12891.vcf.gz"].variants())[:2] == [(14804874, "A", ("G",)), (17077268, "C", ("T",))]
    assert scan.errors == []
