"""The worker-process analyzer gives exactly the in-process results, and fails loudly."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from sandbox.analyzer import AnalyzerProcess
from sandbox.index import build_index
from sandbox.model import Payload
from sandbox.replay import replay
from sandbox.simulate import ensure_demo

REPO = Path(__file__).resolve().parents[1]


def _essence(report: dict) -> list[tuple]:
    return [(f["id"], f["severity"], f["kind"], f["bytes_out"], f["bytes_matched"], f["samples"],
             [(m["path"], m["bytes_matched"]) for m in f["files"]], f["chain"]) for f in report["findings"]]


def test_two_processes_find_what_one_finds(tmp_path):
    run_dir, capture = ensure_demo(REPO / "captures" / "demo")
    one = replay([capture], [run_dir], cache_dir=tmp_path, jobs=1, allow=["lims.lab.example"])
    two = replay([capture], [run_dir], cache_dir=tmp_path, jobs=2, allow=["lims.lab.example"])
    assert one.report["verdict"] == "leak"
    assert _essence(one.report) == _essence(two.report)
    assert one.report["notes"] == two.report["notes"]


def test_worker_death_is_an_error_not_a_clean_verdict(tmp_path):
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    analyzer = AnalyzerProcess([index])
    try:
        os.kill(analyzer._proc.pid, signal.SIGKILL)
        analyzer._proc.join(5)
        with pytest.raises(RuntimeError, match="analyzer worker"):
            analyzer.payload(Payload(b"x" * (8 << 20), ("tcp",), "tcp a:1 > b:2", "out", 0.0, 0.0))
            analyzer.finish([])
    finally:
        analyzer.close()
