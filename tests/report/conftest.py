"""Findings and reports for the report writers' tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.cli import main
from sandbox.model import FileMatch, Finding
from sandbox.simulate import ensure_demo

RUNS = [{"run_id": "RUN", "path": "/runs/RUN", "samples": ["S1", "S2"]}]
CAPS = [{"path": "/caps/a.pcapng", "packets": 10, "bytes": 5000}]
BLIND = [{"where": "wifi.pcap", "what": "unknown link type 127", "packets": 40, "bytes": 6000}]


def finding(severity: str, kind: str = "run-bytes", channel: str = "net", destination: str = "upload.example",
            fid: str = "") -> Finding:
    return Finding(id=fid or f"{severity}-{kind}-{channel}", severity=severity, kind=kind, channel=channel,
                   flow=f"tcp 10.0.0.5:5000 > 203.0.113.9:80 {kind}", destination=destination, t_first=1.5,
                   t_last=3.0, bytes_out=4096, bytes_matched=2048, run_id="RUN", samples=["S1"],
                   files=[FileMatch("S1_R1.fastq.gz", 2048, 0.5)] if kind == "run-bytes" else [],
                   chain=["tcp", "http/1.1 POST /x", "gzip"])


REPO = Path(__file__).resolve().parents[2]
PROFILE = """
name = "demo acceptance"
[destinations]
allowed = ["lims.lab.example", "198.51.100.10"]
expected_telemetry = ["lims.lab.example"]
[[waiver]]
destination = "10.20.0.1"
kind = "destination"
reason = "bench DNS resolver"
by = "J. Reviewer"
"""


@pytest.fixture(scope="session")
def demo() -> tuple[Path, Path]:
    """The demo run folder and capture (``sandbox demo``'s)."""
    return ensure_demo(REPO / "captures" / "demo")


@pytest.fixture(scope="session")
def demo_session(demo, tmp_path_factory) -> Path:
    """A finished replay of the demo with a profile and every report: its folder (store.sqlite, r.*)."""
    out = tmp_path_factory.mktemp("sbx-reports-demo")
    (out / "profile.toml").write_text(PROFILE)
    run_dir, capture = demo
    status = main(["replay", str(capture), "--run", str(run_dir), "--profile", str(out / "profile.toml"),
                   "--json", str(out / "r.json"), "--junit", str(out / "r.xml"), "--sarif", str(out / "r.sarif"),
                   "--html", str(out / "r.html"), "--db", str(out / "store.sqlite"), "--quiet"])
    assert status == 1
    return out
