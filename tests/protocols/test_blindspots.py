"""Blind spots by kind: the first flows named, the rest one exact row, whatever the instrument opens."""

from __future__ import annotations

from sandbox.model import ACK, PSH, FlowInfo, Segment
from sandbox.protocols import blindspots, flows, records
from sandbox.protocols.blindspots import BlindSpot
from sandbox.protocols.flows import Dissector


def _info(n: int) -> FlowInfo:
    return FlowInfo(f"tcp 10.0.0.2:{n} > 192.0.2.9:80", "net", "tcp", "10.0.0.2", n, "192.0.2.9", 80)


def test_the_first_flows_are_named_and_the_rest_add_up_exactly_while_active_and_once_retired(monkeypatch):
    monkeypatch.setattr(blindspots, "MAX_NAMED", 2)
    kind = BlindSpot("what", "resent_out")
    infos = [_info(n) for n in range(5)]
    for info in infos:
        info.resent_out = 10
        kind.add(info)
        kind.add(info)                     # noted twice: one flow
    infos[4].resent_out += 5               # grows after it was noted
    assert [row["where"] for row in kind.rows()] == [infos[0].flow, infos[1].flow, "3 other flows"]
    assert kind.rows()[-1]["bytes"] == 35
    kind.retire(infos[3])
    kind.retire(infos[0])                  # named: stays named
    infos[3].resent_out += 100             # after it retired: not counted
    assert kind.rows()[-1]["bytes"] == 35 and len(kind.active) == 2 and len(kind.named) == 2


def test_a_flood_of_flows_with_forged_packets_keeps_memory_bounded_and_the_report_exact(monkeypatch):
    """Every one of 3000 connections gets one packet forged in its far end's name: 256 rows name theirs,
    one row counts the rest, and the flows no row names give up their records as any flow does."""
    monkeypatch.setattr(records, "MAX_FLOW_RECORDS", 500)
    d = Dissector(instrument=["10.0.0.0/8", "link:3"], stream_parsers=[], datagram_parsers=[])
    for n in range(3000):
        port = 20000 + n
        d.feed(Segment(n * 0.01, "net", "tcp", "10.0.0.2", port, "192.0.2.9", 80, b"x", 1, 1, ACK | PSH,
                       meta={"arrived": 3}))
        d.feed(Segment(n * 0.01, "net", "tcp", "192.0.2.9", 80, "10.0.0.2", port, b"", 1, 2, ACK,
                       meta={"arrived": 3}))
    d.close()
    rows = d.not_examined()
    assert len(rows) == blindspots.MAX_NAMED + 1
    assert rows[-1] == {"where": "2744 other flows", "what": flows.FORGED_IN, "packets": 2744, "bytes": 0}
    assert sum(row["packets"] for row in rows) == 3000
    (forged,) = [kind for kind in d.blind.kinds.values() if kind.what == flows.FORGED_IN]
    assert len(forged.named) == blindspots.MAX_NAMED and not forged.active
    assert all(info.flow in d.flows for info in forged.named.values())     # a named row's record stays
    assert len(d.flows) < 1000
