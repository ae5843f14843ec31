"""Per-tile side files: .filter pass flags (checked with numpy) and .locs/.clocs lane membership."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sandbox.runs import scan_run
from sandbox.runs.tilefiles import FilterFile, LocsFile

from .conftest import copy_into

PICARD = "illumina/picard_125T125T_hiseq_bcl/Data/Intensities"


def test_filter_flags_and_lane_samples(shared_data: Path, run_dir: Path):
    copy_into(shared_data / PICARD / "BaseCalls/L002/s_2_1101.filter", run_dir, "Data/Intensities/BaseCalls/L002/s_2_1101.filter")
    copy_into(shared_data / PICARD / "L002/s_2_1101.clocs", run_dir, "Data/Intensities/L002/s_2_1101.clocs")
    (run_dir / "SampleSheet.csv").write_text("[Data]\nLane,Sample_ID\n1,A\n2,B\n2,C\n")
    scan = scan_run(run_dir)
    filt = next(f for f in scan.files if isinstance(f, FilterFile))
    locs = next(f for f in scan.files if isinstance(f, LocsFile))
    raw = np.fromfile(filt.path, dtype=np.uint8)[12:]
    assert filt.passing().sum() == raw.sum() and len(filt.passing()) == 2000
    assert filt.samples == locs.samples == ("B", "C")
    assert scan.errors == []


def test_filter_size_mismatch_is_a_scan_error(run_dir: Path):
    (run_dir / "s_1_1101.filter").write_bytes(b"\0\0\0\0\3\0\0\0\x10\0\0\0" + b"\1" * 3)
    assert scan_run(run_dir).errors == ["s_1_1101.filter: RunFileError: filter header says 16 clusters, file holds 3"]
