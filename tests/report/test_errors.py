"""The report's errors: each kind once, with its count and first examples."""

from __future__ import annotations

from sandbox.model import MORE_ERRORS, FlowInfo
from sandbox.report import build_report
from sandbox.report import errors as errmod
from sandbox.report.errors import aggregate_errors, error_kind, flow_errors


def test_a_kind_is_the_message_without_its_numbers() -> None:
    assert error_kind("corrupt record header at byte 10 (frame 3)") == error_kind("corrupt record header at byte "
                                                                                   "99 (frame 0x1f)")
    assert error_kind("dns: name runs past the message") != error_kind("dns: truncated question")


def test_repeated_errors_are_one_row_with_count_and_first_examples() -> None:
    errors = [{"where": f"udp 10.0.0.{i}:1 > 10.0.0.9:53", "error": f"dns: label {i} runs past the message"}
              for i in range(1000)]
    errors.insert(500, {"where": "capture.pcap", "error": "truncated at byte 7"})
    rows = aggregate_errors(errors)
    assert [(r["error"], r["count"]) for r in rows] == [("dns: label 0 runs past the message", 1000),
                                                         ("truncated at byte 7", 1)]
    assert rows[0]["where"] == "udp 10.0.0.0:1 > 10.0.0.9:53"
    assert [e["where"] for e in rows[0]["examples"]] == [f"udp 10.0.0.{i}:1 > 10.0.0.9:53" for i in range(3)]
    assert build_report([], [], [], errors)["errors"] == rows


def test_counted_rows_add_up_and_kinds_are_bounded(monkeypatch) -> None:
    monkeypatch.setattr(errmod, "MAX_KINDS", 3)
    rows = aggregate_errors([{"where": "a", "error": "x", "count": 7}, {"where": "b", "error": "x"}]
                            + [{"where": "c", "error": f"kind {chr(97 + i)}"} for i in range(5)])
    assert [(r["error"], r["count"]) for r in rows] == [("x", 8), ("kind a", 1), ("kind b", 1),
                                                         ("other kinds of error", 3)]
    assert aggregate_errors(rows) == rows        # aggregating again changes nothing


def test_flow_errors_carry_the_counts_a_capped_flow_or_a_summary_kept() -> None:
    info = FlowInfo("tcp a", "net", "tcp", "10.0.0.5", 1, "10.0.0.9", 2)
    for _ in range(25):
        info.add_error("bad chunk")
    assert list(flow_errors(info))[-1] == {"where": "tcp a", "error": MORE_ERRORS, "count": 5}
    assert sum(r["count"] for r in aggregate_errors(flow_errors(info))) == 25
    summary = FlowInfo("tcp s", "net", "tcp", "10.0.0.5", 0, "*", 0,
                       meta={"summary": {"flows": 9, "examples": [], "errors": {"evicted: too many active flows": 9}}})
    assert list(flow_errors(summary)) == [{"where": "tcp s", "error": "evicted: too many active flows", "count": 9}]
