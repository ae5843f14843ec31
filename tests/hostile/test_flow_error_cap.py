"""Per-flow error caps (issue 7): a parser that meets a broken message per request kept an error per
request (20,000 on one flow); now every error goes through one capped ``FlowInfo.add_error``."""

from __future__ import annotations

from sandbox.model import ACK, MAX_ERROR_CHARS, MAX_FLOW_ERRORS, MORE_ERRORS, PSH, SYN, FlowInfo, Segment
from sandbox.protocols import Dissector
from sandbox.report import aggregate_errors, flow_errors

CLIENT, SERVER = ("10.0.0.2", 40000), ("10.0.0.9", 80)
REQUESTS = 3000
# a body that says gzip and is not: the HTTP body pipe notes a decoding error for every request
BROKEN = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Encoding: gzip\r\n\r\nabcde"


def _keepalive(requests: int, request: bytes) -> list[Segment]:
    segs = [Segment(1.0, "net", "tcp", *CLIENT, *SERVER, b"", 100, 0, SYN)]
    seq = 101
    for i in range(requests):
        segs.append(Segment(1.0 + i * 1e-3, "net", "tcp", *CLIENT, *SERVER, request, seq, 1, ACK | PSH))
        seq += len(request)
    return segs


def test_a_broken_message_per_request_keeps_a_capped_count():
    d = Dissector()
    for seg in _keepalive(REQUESTS, BROKEN):
        d.feed(seg)
    d.close()
    (info,) = d.flows.values()
    assert len(info.errors) == MAX_FLOW_ERRORS + 1
    assert info.errors[0].startswith("http/1.1 out: gzip")
    assert info.errors[-1] == f"... and {REQUESTS - MAX_FLOW_ERRORS} more error(s) on this flow"
    rows = aggregate_errors(flow_errors(info))
    assert sum(r["count"] for r in rows) == REQUESTS     # the report still says how many
    assert {r["error"] for r in rows} == {info.errors[0], MORE_ERRORS}


def test_add_error_caps_count_and_length():
    info = FlowInfo("udp a", "net", "udp", "10.0.0.2", 1, "10.0.0.9", 2)
    info.add_error("x" * 10_000)
    for n in range(50):
        info.add_error(f"error {n}")
    assert len(info.errors[0]) == MAX_ERROR_CHARS
    assert len(info.errors) == MAX_FLOW_ERRORS + 1 and info.errors_dropped == 51 - MAX_FLOW_ERRORS
    assert info.errors[-1] == f"... and {51 - MAX_FLOW_ERRORS} more error(s) on this flow"
