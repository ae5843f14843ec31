"""Text streaming helpers: gzip-transparent line batches across chunk edges, DNA normalisation."""

from __future__ import annotations

import gzip
from pathlib import Path

from sandbox.runs.textio import dna, lines, text_chunks


def test_lines_across_chunk_boundaries_and_multimember_gzip(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("sandbox.runs.textio.CHUNK", 7)
    body = b"".join(b"line%d\n" % i for i in range(50)) + b"tail"
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(body[:100]) + gzip.compress(body[100:]))  # BGZF-like: several members
    assert [x for batch in lines(p, True) for x in batch] == body.split(b"\n")
    assert b"".join(text_chunks(p, True, 5)) == body


def test_dna_upper_cases_and_masks_non_acgt():
    assert dna([b"acgtN", b"RYKM-.", b"AC\rGT"]) == [b"ACGTN", b"NNNNNN", b"ACGT"]
    clean = [b"ACGT", b"NNA"]
    assert dna(clean) is clean  # already clean: no copies
    assert dna([]) == []
