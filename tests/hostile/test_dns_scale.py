"""DNS at scale (issue 7): 200k queries under one zone took 167 s, and exfiltration of reads grew
quadratically (each query from a new source port was its own flow with its own findings).  DNS is
one flow per client and server whatever the source port, query names go out in batches per zone,
findings are per (flow, zone), and the leak is still found with its sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapWriter
from sandbox.model import Observation, Payload
from sandbox.protocols import Dissector
from sandbox.protocols import dns as dnsmod
from sandbox.replay import replay
from sandbox.simulate.load import (
    EXFIL_ZONE,
    INSTRUMENT,
    LEAK_HOST,
    RESOLVER,
    Clock,
    dns_lookups,
    exfil_names,
    flood_names,
    leak,
    sample_reads,
)
from sandbox.simulate.runfolder import make_illumina_run

QUERIES = 20_000
EXFIL_QUERIES = 3_000


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_illumina_run(tmp_path_factory.mktemp("run"), seed=5, reads_per_sample=600)


def _dissect(path: Path) -> tuple[list[Payload | Observation], Dissector]:
    d = Dissector()
    items: list[Payload | Observation] = []
    for seg in open_capture(path):
        items += d.feed(seg)
    return items + d.close(), d


def test_queries_from_a_new_port_each_are_one_flow_and_few_payloads(tmp_path: Path) -> None:
    pcap = tmp_path / "lookups.pcap"
    with PcapWriter(pcap) as w:
        assert dns_lookups(w, Clock(), flood_names(QUERIES)) == QUERIES
    items, d = _dissect(pcap)
    (info,) = d.flows.values()
    assert info.flow == f"udp {INSTRUMENT}:* > {RESOLVER}:53" and info.app == "dns"
    assert info.packets == 2 * QUERIES and not info.errors
    names = [p for p in items if isinstance(p, Payload) and p.chain == ("udp", "dns query A")]
    assert sum(len(p.data.split(b"\n")) for p in names) == QUERIES     # every name, none lost
    assert len(names) < QUERIES / 100                                   # ... in batches
    assert {p.destination for p in names} == {"bulk-lookup.example"}
    assert len(dnsmod.tracker(d.shared).zones) == 1


def test_exfiltration_at_scale_is_one_finding_per_kind_with_its_sample(run: Path, tmp_path: Path) -> None:
    sample, reads, _ = sample_reads(run)
    pcap = tmp_path / "exfil.pcap"
    clock = Clock()
    with PcapWriter(pcap) as w:
        dns_lookups(w, clock, exfil_names(reads, EXFIL_QUERIES), answer=None)
        clock.t += 1.0
        leak_flow = leak(w, clock, run)
    report = replay([pcap], [run], cache_dir=tmp_path / "cache", jobs=1).report
    dns_flow = f"udp {INSTRUMENT}:* > {RESOLVER}:53"
    on_dns = [f for f in report["findings"] if f["flow"] == dns_flow]
    assert sorted(f["kind"] == "dns-tunnel" for f in on_dns) == [False, True]     # one finding per leak
    assert all(f["destination"] == EXFIL_ZONE and f["severity"] in ("high", "critical") for f in on_dns)
    (seq,) = [f for f in on_dns if "sequence" in f["evidence_kinds"]]
    assert seq["samples"] == [sample] and seq["bytes_matched"] > EXFIL_QUERIES * 50
    assert any(f["flow"] == leak_flow and f["destination"] == LEAK_HOST and f["severity"] in ("high", "critical")
               for f in report["findings"])


def test_findings_are_per_flow_and_zone(run: Path, tmp_path: Path) -> None:
    """Two zones through one resolver, one zone through a second resolver: three finding sets."""
    _, reads, _ = sample_reads(run)
    pcap = tmp_path / "zones.pcap"
    clock = Clock()
    with PcapWriter(pcap) as w:
        dns_lookups(w, clock, exfil_names(reads[:100], 200, "a-zone.test"), answer=None)
        dns_lookups(w, clock, exfil_names(reads[100:200], 200, "b-zone.test"), answer=None)
        dns_lookups(w, clock, exfil_names(reads[200:300], 200, "a-zone.test"), answer=None,
                    resolver=("10.20.0.2", 53))
    report = replay([pcap], [run], cache_dir=tmp_path / "cache", jobs=1).report
    sequence = sorted((f["flow"], f["destination"]) for f in report["findings"] if "sequence" in f["evidence_kinds"])
    assert sequence == [(f"udp {INSTRUMENT}:* > 10.20.0.1:53", "a-zone.test"),
                        (f"udp {INSTRUMENT}:* > 10.20.0.1:53", "b-zone.test"),
                        (f"udp {INSTRUMENT}:* > 10.20.0.2:53", "a-zone.test")]
    tunnels = sorted(f["destination"] for f in report["findings"] if f["kind"] == "dns-tunnel")
    assert tunnels == ["a-zone.test", "b-zone.test"]     # per client and zone, whichever resolver


def test_zone_statistics_are_per_client() -> None:
    from sandbox.model import Segment
    from tests.protocols.test_dns import query_wire

    d = Dissector()
    for i in range(40):
        for client in ("10.0.0.2", "10.0.0.3"):
            d.feed(Segment(1.0 + i, "net", "udp", client, 40000 + i, "10.0.0.53", 53,
                           query_wire(f"h{i}.shared.example", ident=i)))
    d.close()
    zones = dnsmod.tracker(d.shared).zones
    assert sorted(zones) == [("10.0.0.2", "shared.example"), ("10.0.0.3", "shared.example")]
    assert all(z.queries == 40 for z in zones.values())
