"""Helpers for the run-reader tests: build small run folders in tmp, drain every stream of a scan."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.runs import Identifier, RunScan

ILLUMINA = "illumina"
NANOPORE = "nanopore"
SEQUENCES = "sequences"


def drain(scan: RunScan) -> dict[str, dict]:
    """Run every stream of every file (what the index does); returns per-file totals by rel path."""
    out = {}
    for f in scan.files:
        raw = sum(len(b) for b in f.raw())
        decoded = sum(len(b) for b in f.decoded())
        reads = list(f.reads())
        ids = list(f.identifiers())
        variants = list(f.variants())
        assert all(isinstance(r, bytes) for r in reads)
        assert all(isinstance(i, Identifier) for i in ids)
        assert all(isinstance(p, int) and isinstance(ref, str) and all(isinstance(a, str) for a in alts)
                   for p, ref, alts in variants)
        out[f.rel] = {"raw": raw, "decoded": decoded, "reads": reads, "ids": ids, "variants": variants, "file": f}
    return out


def copy_into(src: Path, dest_dir: Path, rel: str | None = None) -> Path:
    """Copy one shared file into a tmp run folder (at ``rel`` inside it), writable."""
    target = dest_dir / (rel or src.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    return target


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    return d
