"""InterOp binaries: claimed only inside InterOp/, belong to every sample of the run."""

from __future__ import annotations

from pathlib import Path

from sandbox.runs import scan_run
from sandbox.runs.interop import InterOpFile


def test_interop_bins_are_run_level(shared_data: Path):
    scan = scan_run(shared_data / "illumina/230825_M04034_0043_000000000-L6NVV")
    interop = [f for f in scan.files if isinstance(f, InterOpFile)]
    assert len(interop) == 9
    assert all(f.samples == tuple(scan.meta.sample_ids()) and len(f.samples) == 12 for f in interop)
    assert not InterOpFile.claim("Data/TileMetricsOut.bin", b"")
