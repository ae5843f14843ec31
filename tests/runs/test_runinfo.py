"""RunInfo.xml: run id, instrument, flowcell, read structure and lanes; malformed XML is an error."""

from __future__ import annotations

from pathlib import Path

from sandbox.runs import scan_run

from .conftest import copy_into


def test_miseq_run_info(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "illumina/230825_M04034_0043_000000000-L6NVV/RunInfo.xml", run_dir)
    meta = scan_run(run_dir).meta
    assert (meta.run_id, meta.instrument, meta.flowcell, meta.platform) == (
        "230825_M04034_0043_000000000-L6NVV", "M04034", "000000000-L6NVV", "illumina")
    assert meta.read_cycles == [(1, 151, False), (2, 8, True), (3, 8, True), (4, 151, False)]
    assert meta.lane_count == 1


def test_novaseq_run_info_with_namespaces_and_tiles(shared_data: Path, run_dir: Path):
    copy_into(shared_data / "illumina/200624_A00834_0183_BHMTFYTINY/RunInfo.xml", run_dir)
    meta = scan_run(run_dir).meta
    assert meta.run_id == "200624_A00834_0183_BHMTFYDRXX" and meta.flowcell == "HMTFYDRXX"
    assert meta.lane_count == 2 and [c for _, c, _ in meta.read_cycles] == [36, 10, 10]


def test_malformed_run_info_is_an_error_and_folder_name_is_the_run_id(run_dir: Path):
    (run_dir / "RunInfo.xml").write_text("<RunInfo><Run Id='x'>")
    scan = scan_run(run_dir)
    assert len(scan.errors) == 1 and scan.errors[0].startswith("RunInfo.xml: RunFileError: malformed XML")
    assert scan.meta.run_id == "run"
