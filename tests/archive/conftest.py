"""An archive of bench sessions made from the demo capture with real tools: shifted in time with
editcap (so the same connections recur, hours apart), the DNS left out with tshark (so sessions share
no tunnel zone), one session split into a ring buffer (editcap -c)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.simulate import ensure_demo

REPO = Path(__file__).resolve().parents[2]
ALLOW = ["lims.lab.example", "198.51.100.10"]
HOUR = 3600


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def shifted(src: Path, dest: Path, seconds: float) -> Path:
    _run("editcap", "-t", str(seconds), str(src), str(dest))
    return dest


@pytest.fixture(scope="session")
def demo() -> tuple[Path, Path]:
    return ensure_demo(REPO / "captures" / "demo")


@pytest.fixture(scope="session")
def sessions(demo, tmp_path_factory) -> dict[str, list[Path]]:
    """Named sessions of an archive: a and b (no DNS, 1 h apart), ring (no DNS, 2 h later, 4 ring
    files), tunnel (the whole demo with its DNS tunnel, 3 h later); and two that share state with
    tunnel: tunnel2 (the same tunnel zone, 4 h later) and close (30 s after tunnel's end)."""
    _, capture = demo
    folder = tmp_path_factory.mktemp("sbx-fleet-archive")
    nodns = folder / "nodns.pcapng"
    _run("tshark", "-r", str(capture), "-Y", "not dns", "-w", str(nodns))
    ring_dir = folder / "ring"
    ring_dir.mkdir()
    _run("editcap", "-t", str(2 * HOUR), "-c", "150", str(nodns), str(ring_dir / "net.pcapng"))
    return {
        "a": [shifted(nodns, folder / "a.pcapng", 0)],
        "b": [shifted(nodns, folder / "b.pcapng", HOUR)],
        "ring": sorted(ring_dir.glob("net_*.pcapng")),
        "tunnel": [shifted(capture, folder / "tunnel.pcapng", 3 * HOUR)],
        "tunnel2": [shifted(capture, folder / "tunnel2.pcapng", 4 * HOUR)],
        "close": [shifted(nodns, folder / "close.pcapng", 3 * HOUR + 74 + 30)],
    }
