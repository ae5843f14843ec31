"""Evasion by nesting: ordinary wrappers stacked deeper than a depth limit no longer hide data,
and what a limit still stops on outbound data is a finding, never a silent clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.simulate import ensure_demo
from sandbox.simulate.bombs import gzip_bomb, nested_wrappers, write_capture
from tests.hostile.test_bombs import REPO, leaked_reads, replay_cli


@pytest.fixture(scope="module")
def demo_run() -> Path:
    return ensure_demo(REPO / "captures" / "demo")[0]


def test_three_nested_wrappers_of_reads_are_a_leak(demo_run, tmp_path):
    """{"d": base64(gzip(x))} three times over 20 KB of reads: 9 layers, once hidden at depth 8."""
    capture = tmp_path / "sbx-harden-decode-nested.pcapng"
    flows = write_capture(capture, nested_wrappers(leaked_reads(demo_run), 3), b"nothing to see")
    code, report = replay_cli(capture, demo_run, tmp_path)
    assert code == 1 and report["verdict"] == "leak"
    (hit,) = [f for f in report["findings"] if f["kind"] == "run-bytes" and f["flow"] == flows["hostile"]]
    assert hit["severity"] in ("high", "critical")
    assert hit["chain"][2:] == ["json:$.d", "base64", "gzip"] * 3
    assert not [f for f in report["findings"] if f["kind"] == "decode-limit"]


def _over_budget(demo_run, tmp_path) -> tuple[int, dict, dict[str, str]]:
    capture = tmp_path / "sbx-harden-decode-over-budget.pcapng"
    flows = write_capture(capture, gzip_bomb(1 << 30), b"nothing to see here")
    code, report = replay_cli(capture, demo_run, tmp_path)
    return code, report, flows


def test_data_over_the_budget_is_a_decode_limit_finding(demo_run, tmp_path):
    code, report, flows = _over_budget(demo_run, tmp_path)
    (limit,) = [f for f in report["findings"] if f["kind"] == "decode-limit"]
    assert limit["flow"] == flows["hostile"] and limit["severity"] == "medium"
    assert limit["detail"]["limit"] == "expansion ratio 100x" and limit["detail"]["decoder"] == "gzip"
    assert limit["detail"]["bytes_not_examined"] > 0


def test_data_over_the_budget_makes_the_verdict_inconclusive(demo_run, tmp_path):
    code, report, flows = _over_budget(demo_run, tmp_path)
    assert code == 3 and report["verdict"] == "inconclusive"
    (row,) = report["not_examined"]
    assert row["where"] == flows["hostile"] and row["what"].startswith("decoding limit: expansion ratio 100x")
    assert row["bytes"] > 0
