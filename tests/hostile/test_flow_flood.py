"""Flow floods (issue 7): a million SYN-only flows gave 950,001 error rows, a 112 MB report and a
255 MB store.  Flows that carried nothing are summarised per destination, repeated errors are one
row with a count, and the leak sent after the flood is still found."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter
from sandbox.model import Segment
from sandbox.protocols import Dissector, flows
from sandbox.protocols.records import MAX_EMPTY_RECORDS, MAX_FLOW_RECORDS, MAX_SUMMARIES
from sandbox.replay import replay
from sandbox.report import aggregate_errors, flow_errors
from sandbox.simulate.load import LEAK_HOST, Clock, leak, syn_flood
from sandbox.simulate.runfolder import make_illumina_run
from sandbox.store import Store

FLOOD = flows.MAX_ACTIVE_FLOWS + 10_000  # past the active table: the oldest flows are evicted


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_illumina_run(tmp_path_factory.mktemp("run"), seed=3, reads_per_sample=300)


def test_syn_flood_is_summarised_and_the_leak_after_it_is_found(run: Path, tmp_path: Path) -> None:
    pcap = tmp_path / "flood.pcap"
    clock = Clock()
    with PcapWriter(pcap) as w:
        syn_flood(w, clock, FLOOD)
        clock.t += 1.0
        leak_flow = leak(w, clock, run)
    store = Store(tmp_path / "store.sqlite")
    try:
        result = replay([pcap], [run], store=store, cache_dir=tmp_path / "cache", jobs=1)
    finally:
        store.close()
    report = result.report
    found = [f for f in report["findings"] if f["flow"] == leak_flow and f["severity"] in ("high", "critical")]
    assert {f["kind"] for f in found} >= {"run-bytes"} and all(f["destination"] == LEAK_HOST for f in found)
    assert report["verdict"] == "leak"
    assert report["errors"] == []       # evicting a flow that carried nothing loses nothing
    with sqlite3.connect(tmp_path / "store.sqlite") as con:
        rows = con.execute("SELECT flow, packets, meta FROM flows").fetchall()
    summaries = [json.loads(meta)["summary"] for _, _, meta in rows if "summary" in json.loads(meta)]
    assert len(rows) <= MAX_EMPTY_RECORDS + MAX_SUMMARIES + 2     # records kept, summaries, the leak
    assert sum(s["flows"] for s in summaries) + len(rows) - len(summaries) == FLOOD + 1   # each flow once
    assert sum(packets for _, packets, _ in rows) == report["captures"][0]["packets"]
    assert any(flow == leak_flow for flow, _, _ in rows)


def test_evictions_of_flows_with_payload_are_one_error_row_with_a_count() -> None:
    d = Dissector()
    for i in range(FLOOD):    # a datagram from a new port each (none a DNS port): a flow with payload each
        d.feed(Segment(1.0 + i * 1e-5, "net", "udp", "10.20.0.5", 20000 + i % 40000, f"198.18.{i // 40000}.1",
                       7000, b"x"))
    d.close()
    assert len(d.flows) <= MAX_FLOW_RECORDS + MAX_SUMMARIES + 1
    summaries = [f for f in d.flows.values() if "summary" in f.meta]
    assert sum(f.meta["summary"]["flows"] for f in summaries) + len(d.flows) - len(summaries) == FLOOD
    assert sum(f.bytes_out for f in d.flows.values()) == FLOOD
    rows = aggregate_errors(e for info in d.flows.values() for e in flow_errors(info))
    assert [(r["error"], r["count"]) for r in rows] == [("evicted: too many active flows", FLOOD - flows.MAX_ACTIVE_FLOWS)]
    assert len(rows[0]["examples"]) == 3


def test_a_flood_of_quic_initials_is_a_few_findings_and_the_leak_after_it_is_found(run: Path, tmp_path: Path) -> None:
    """Each Initial a new flow whose protection does not open: one info finding per flow was a
    report the size of the flood (21,504 findings for 100,000 Initials)."""
    from sandbox.correlate.correlator import MAX_ENCRYPTED_FLOWS
    from sandbox.simulate.load import QUIC_ADDR, quic_initials

    pcap = tmp_path / "quic.pcap"
    clock = Clock()
    with PcapWriter(pcap) as w:
        quic_initials(w, clock, 3000)
        clock.t += 1.0
        leak_flow = leak(w, clock, run)
    report = replay([pcap], [run], cache_dir=tmp_path / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    assert any(f["flow"] == leak_flow and f["kind"] == "run-bytes" for f in report["findings"])
    quic = [f for f in report["findings"] if f["destination"] == QUIC_ADDR and f["kind"] == "encrypted"]
    assert len(quic) == MAX_ENCRYPTED_FLOWS + 1
    assert sum(f["detail"].get("flows", 1) for f in quic) == 3000
