"""Base helpers: lane parsing, path sample matching, the stream error guard, read batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.runs.base import RunFile, RunFileError, RunMeta, Sample, lane_of, lane_samples, samples_from_path


@pytest.mark.parametrize("rel, lane", [
    ("Data/Intensities/BaseCalls/L003/C1.1/s_3_1101.bcl.gz", "3"),
    ("Data/Intensities/BaseCalls/L001/C9.1/L001_2.cbcl", "1"),
    ("Data/Intensities/BaseCalls/L002/s_2_1101.filter", "2"),
    ("Data/Intensities/s.locs", ""),
])
def test_lane_of(rel: str, lane: str):
    assert lane_of(rel) == lane


def test_lane_and_path_samples():
    meta = RunMeta(samples=[Sample("Sample_A", "A", lane="1"), Sample("B", lane="2"), Sample("C")])
    assert lane_samples(meta, "1") == ("Sample_A", "C")
    assert samples_from_path("Project/Sample_A/x.txt", meta) == ("Sample_A",)
    assert samples_from_path("Project/A/x.txt", meta) == ("Sample_A",)
    assert samples_from_path("Stats/x.txt", meta) == ()


class _Broken(RunFile):
    kind = "broken"

    def reads(self):
        yield b"ACGT"
        raise RunFileError("bad block\nsecond line")


def test_stream_guard_turns_errors_into_one_line_strings(tmp_path: Path):
    (tmp_path / "f").write_bytes(b"x")
    f = _Broken(tmp_path, tmp_path / "f")
    assert list(f.reads()) == [b"ACGT"]
    assert list(f.read_batches()) == [[b"ACGT"]]
    assert f.errors == ["f: reads: RunFileError: bad block"] * 2
    (tmp_path / "f").unlink()
    assert list(f.raw()) == [] and f.errors[-1].startswith("f: raw: FileNotFoundError")
