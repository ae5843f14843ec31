"""Decompression bombs without labels: bounded, reported, and a leak sent after them still found.

Each capture (written with the project's capture writer) holds a bomb upload, then 20 KB of a
sample's reads on the same connection, then the same reads on a second connection.  The replay
goes through the CLI as a user runs it.  Time and memory are measured by
``benchmarks/hostile_bombs.py``, not asserted here.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.simulate import ensure_demo
from sandbox.simulate.bombs import gzip_bomb, nested_zip_bomb, write_capture
from sandbox.simulate.runfolder import sample_fastqs

REPO = Path(__file__).resolve().parents[2]
LEAK_BYTES = 20_000


@pytest.fixture(scope="module")
def demo_run() -> Path:
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    return run_dir


def leaked_reads(run_dir: Path) -> bytes:
    """20 KB of the first sample's reads, as the instrument would send them."""
    fastq = next(iter(sample_fastqs(run_dir).values()))
    return gzip.decompress(fastq.read_bytes())[:LEAK_BYTES]


def replay_cli(capture: Path, run_dir: Path, tmp_path: Path) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "replay", str(capture), "--run", str(run_dir), "--report",
         str(report), "--quiet", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(report.read_text())


def _kinds(report: dict, flow: str) -> dict[str, str]:
    return {f["kind"]: f["severity"] for f in report["findings"] if f["flow"] == flow}


BOMBS = {
    "gzip-bomb-unlabelled": (lambda: gzip_bomb(1 << 30), ""),
    "gzip-bomb-labelled": (lambda: gzip_bomb(1 << 30), "gzip"),
    "nested-zip-bomb": (lambda: nested_zip_bomb(levels=3), ""),
}


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_leak_after_a_bomb_is_found_and_the_bomb_is_a_decode_limit(case, demo_run, tmp_path):
    make, label = BOMBS[case]
    capture = tmp_path / f"sbx-harden-decode-{case}.pcapng"
    flows = write_capture(capture, make(), leaked_reads(demo_run), label=label)
    code, report = replay_cli(capture, demo_run, tmp_path)
    assert code == 1 and report["verdict"] == "leak"
    for flow in flows.values():  # behind the bomb on its connection, and on another one
        assert _kinds(report, flow).get("run-bytes") in ("high", "critical"), report["findings"]
    (limit,) = [f for f in report["findings"] if f["kind"] == "decode-limit"]
    assert limit["flow"] == flows["hostile"] and limit["severity"] == "medium"
    assert limit["chain"][:2] == ["tcp", "http/1.1 POST /v1/blob"]
    assert limit["detail"]["bytes_not_examined"] > 0
