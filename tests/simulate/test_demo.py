"""captures/demo is exactly what ``python -m sandbox.simulate demo`` writes, and small enough to commit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "captures" / "demo"
MAX_BYTES = 2 << 20


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, "-m", "sandbox.simulate", "demo", str(dest)], cwd=REPO, check=True,
                   capture_output=True, timeout=120)
    return dest


def listing(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
            if p.is_file() and ".sandbox-index" not in p.parts}


def test_committed_demo_is_byte_identical_to_a_fresh_build(regenerated):
    if not DEMO.is_dir():
        pytest.skip("captures/demo not generated yet")
    fresh, committed = listing(regenerated), listing(DEMO)
    assert sorted(fresh) == sorted(committed)
    differ = [rel for rel in fresh if fresh[rel].read_bytes() != committed[rel].read_bytes()]
    assert not differ


def test_demo_is_small_and_complete(regenerated):
    files = listing(regenerated)
    assert sum(p.stat().st_size for p in files.values()) < MAX_BYTES
    truth = json.loads((regenerated / "expected.json").read_text())
    assert (regenerated / truth["capture"]).is_file() and (regenerated / truth["run"] / "RunInfo.xml").is_file()
    assert [leg["name"] for leg in truth["legs"]] == [
        "lims-heartbeat", "software-update", "diagnostics-bundle", "dns-tunnel", "opaque-upload",
        "single-read-json", "lims-heartbeat"]


def test_ensure_demo_builds_only_what_is_missing(tmp_path, regenerated):
    from sandbox.simulate import ensure_demo

    run, cap = ensure_demo(tmp_path)
    assert cap.read_bytes() == (regenerated / "demo.pcapng").read_bytes()
    cap.write_bytes(b"kept")
    assert ensure_demo(tmp_path) == (run, cap) and cap.read_bytes() == b"kept"
