"""FASTA: records as reads, long records in overlapping pieces so no k-mer is lost at a cut."""

from __future__ import annotations

import gzip
from pathlib import Path

from sandbox.runs import fasta, scan_run


def test_records_and_pieces(run_dir: Path, monkeypatch):
    monkeypatch.setattr(fasta, "PIECE", 1000)
    monkeypatch.setattr(fasta, "OVERLAP", 31)
    long = (b"ACGTTGCA" * 400)[:3100]
    text = b">chr1 long\n" + b"\n".join(long[i:i + 60] for i in range(0, len(long), 60)) + b"\n>two\nacgtn\nRY\n"
    (run_dir / "ref.fa.gz").write_bytes(gzip.compress(text))
    (f,) = scan_run(run_dir).files
    pieces = list(f.reads())
    assert pieces[-1] == b"ACGTNNN"
    assert all(len(p) <= 1031 for p in pieces)
    rebuilt = pieces[0] + b"".join(p[31:] for p in pieces[1:-1])
    assert rebuilt == long
    assert b"".join(f.decoded()) == text


def test_chunk_edges_single_line_records_and_headers(run_dir: Path, monkeypatch):
    monkeypatch.setattr("sandbox.runs.textio.CHUNK", 5)
    text = b">a desc > x\nACGTACGTAC\nGG\n>b\n>c\nTTTTTTTTTTTTTTTTTTTTTTT\n>d\nCA"
    (run_dir / "x.fasta").write_bytes(text)
    (f,) = scan_run(run_dir).files
    assert list(f.reads()) == [b"ACGTACGTACGG", b"T" * 23, b"CA"]
