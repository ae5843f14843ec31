"""The simulated MinKNOW folder: headers, summary and sample sheet agree; same seed, same bytes."""

from __future__ import annotations

import csv
import gzip
import re

from sandbox.simulate.nanopore import FLOWCELL, make_nanopore_run


def test_nanopore_run(tmp_path):
    run = make_nanopore_run(tmp_path / "a", seed=5, barcodes=2, reads_per_barcode=30, genome_len=40_000)
    again = make_nanopore_run(tmp_path / "b", seed=5, barcodes=2, reads_per_barcode=30, genome_len=40_000)
    assert run.name == again.name and FLOWCELL in run.name
    assert [p.read_bytes() for p in sorted(run.rglob("*.*"))] == [p.read_bytes() for p in sorted(again.rglob("*.*"))]
    fastqs = sorted(run.glob("fastq_pass/barcode*/*.fastq.gz"))
    assert [p.parent.name for p in fastqs] == ["barcode01", "barcode02"]
    ids = []
    for path in fastqs:
        lines = gzip.decompress(path.read_bytes()).split(b"\n")
        heads = lines[0::4][:-1]
        assert len(heads) == 30
        for head, seq, qual in zip(heads, lines[1::4], lines[3::4], strict=False):
            kv = dict(re.findall(rb"(\w+)=(\S+)", head))
            assert kv[b"flow_cell_id"] == FLOWCELL.encode() and kv[b"barcode"] == path.parent.name.encode()
            assert len(kv[b"runid"]) == 40 and kv[b"sample_id"]
            assert len(seq) == len(qual) >= 200
            ids.append(head[1:].split()[0].decode())
    summary = list(csv.DictReader(open(next(run.glob("sequencing_summary_*.txt"))), delimiter="\t"))
    assert [r["read_id"] for r in summary] == ids
    sheet = list(csv.DictReader(open(next(run.glob("sample_sheet_*.csv")))))
    assert [r["barcode"] for r in sheet] == ["barcode01", "barcode02"] and all(r["alias"] for r in sheet)


def test_run_readers_see_barcodes_as_samples(tmp_path):
    from sandbox.runs import scan_run

    run = make_nanopore_run(tmp_path, seed=6, barcodes=3, reads_per_barcode=5, genome_len=20_000)
    scan = scan_run(run)
    assert scan.meta.platform == "nanopore" and not scan.errors
    sheet = list(csv.DictReader(open(next(run.glob("sample_sheet_*.csv")))))
    assert set(scan.meta.sample_ids()) >= {r["alias"] for r in sheet}
    assert {f.kind for f in scan.files} >= {"fastq"}
