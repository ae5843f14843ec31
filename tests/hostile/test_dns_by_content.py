"""DNS found by content, not by port (issue 12): a backdoor talking DNS to port 18053, or dnscat2
straight to its server, is exactly what a tunnel looks like.  Recognised by a strict check of the
message itself, which finds no DNS where there is none in the public traces or our own captures."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import dns.message
import dns.query
import dns.rrset
import pytest

from sandbox.captures import CaptureError, open_capture
from sandbox.captures.writer import PcapWriter, TcpConversation, udp
from sandbox.model import Observation, Payload
from sandbox.protocols import Dissector
from sandbox.protocols.dns import DNS_PORTS, looks_like_dns
from sandbox.replay import replay
from sandbox.simulate import wire
from sandbox.simulate.load import INSTRUMENT, Clock, dns_lookups, exfil_names, sample_reads
from sandbox.simulate.runfolder import make_illumina_run
from tests.loopback import record_lo

REPO = Path(__file__).resolve().parents[2]
BACKDOOR = ("203.0.113.9", 18053)
C2 = "198.51.100.99"
# Where the public traces and our captures carry DNS off its ports (tshark agrees for UDP; the TCP
# one is tcpdump's own DNS-over-TCP-on-8053 test, which tshark leaves as plain TCP).
DNS_ELSEWHERE = {("tcpdump__dns_udp_8053.pcap", "udp"), ("tcpdump__dns_tcp_8053.pcap", "tcp")}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_illumina_run(tmp_path_factory.mktemp("run"), seed=11, reads_per_sample=300)


def _dissect(path: Path) -> tuple[list[Payload | Observation], Dissector]:
    d = Dissector()
    items: list[Payload | Observation] = []
    for seg in open_capture(path):
        items += d.feed(seg)
    return items + d.close(), d


def test_a_dns_tunnel_on_a_non_standard_port_is_found_with_its_sample(run: Path, tmp_path: Path) -> None:
    sample, reads, _ = sample_reads(run)
    pcap = tmp_path / "backdoor.pcap"
    with PcapWriter(pcap) as w:
        dns_lookups(w, Clock(), exfil_names(reads, 120), resolver=BACKDOOR, answer=None)
    report = replay([pcap], [run], cache_dir=tmp_path / "cache", jobs=1).report
    flow = f"udp {INSTRUMENT}:* > {BACKDOOR[0]}:{BACKDOOR[1]}"
    on_flow = [f for f in report["findings"] if f["flow"] == flow]
    (content,) = [f for f in on_flow if "sequence" in f["evidence_kinds"]]    # one finding per leak
    assert "dns-tunnel" in {f["kind"] for f in on_flow}
    assert content["samples"] == [sample] and report["verdict"] == "leak"


def test_dns_over_tcp_on_a_non_standard_port_is_parsed(tmp_path: Path) -> None:
    queries = [dns.message.make_query(f"q{i}.example.org", "TXT").to_wire() for i in range(3)]
    pcap = tmp_path / "tcp.pcap"
    with PcapWriter(pcap) as w:
        conv = TcpConversation(w, ("10.0.0.2", 41000), ("10.0.0.53", 8053), t0=1.0)
        conv.send(b"".join(len(q).to_bytes(2, "big") + q for q in queries))
        conv.close()
    items, d = _dissect(pcap)
    (info,) = d.flows.values()
    assert info.app == "dns" and not info.errors
    names = [n for p in items if isinstance(p, Payload) and p.chain == ("tcp", "dns query TXT")
             for n in p.data.split(b"\n")]
    assert sorted(names) == [b"q0.example.org", b"q1.example.org", b"q2.example.org"]


def dnscat2_names(data: bytes, domain: str | None, session: int = 0x4a1f) -> list[str]:
    """dnscat2's MSG packets (packet id, type 1, session, seq, ack, data) in hex labels of up to 62
    characters: ``dnscat.<hex>`` straight to its server, or ``<hex>.<domain>`` (its protocol.md)."""
    names = []
    seq = 0x1000
    for n, off in enumerate(range(0, len(data), 60)):
        chunk = data[off:off + 60]
        packet = (n.to_bytes(2, "big") + b"\x01" + session.to_bytes(2, "big") + seq.to_bytes(2, "big")
                  + (0x2000 + n).to_bytes(2, "big") + chunk)
        seq += len(chunk)
        hexed = packet.hex()
        labels = [hexed[i:i + 62] for i in range(0, len(hexed), 62)]
        names.append(".".join(["dnscat", *labels] if domain is None else [*labels, domain]))
    return names


@pytest.mark.parametrize("domain, port", [(None, 53), ("c2.example", 53), (None, 5353 + 7)])
def test_dnscat2_talking_straight_to_its_server_is_a_dns_tunnel(run: Path, tmp_path: Path, domain: str | None,
                                                                  port: int) -> None:
    _, _, fastq = sample_reads(run)
    pcap = tmp_path / "dnscat2.pcap"
    with PcapWriter(pcap) as w:
        for i, name in enumerate(dnscat2_names(fastq[:3000], domain)):
            qtype = (16, 5, 15)[i % 3]     # TXT, CNAME, MX, as dnscat2 rotates them
            udp(w, (INSTRUMENT, 50000 + i), (C2, port), wire.dns_query(i, name, qtype), t=1.0 + i * 0.2)
            udp(w, (C2, port), (INSTRUMENT, 50000 + i), wire.dns_answer(i, name, None, qtype=qtype), t=1.1 + i * 0.2)
    items, d = _dissect(pcap)
    (info,) = d.flows.values()
    assert info.flow == f"udp {INSTRUMENT}:* > {C2}:{port}" and info.app == "dns"
    (tunnel,) = [o for o in items if isinstance(o, Observation) and o.kind == "dns-tunnel"]
    assert tunnel.destination == ("dnscat" if domain is None else "c2.example")
    assert "encoded data in labels" in tunnel.detail["signals"]


class _Responder:
    """An answer-everything UDP DNS server on an ephemeral (odd) port of a loopback address of its own."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.sock.settimeout(0.2)
        self.address, self.port = self.sock.getsockname()
        self.received = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            answer.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.10"))
            self.sock.sendto(answer.to_wire(), peer)
            self.received += 1

    def __enter__(self) -> _Responder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.mark.e2e
def test_a_real_client_tunnelling_to_a_responder_on_an_odd_port(run: Path, tmp_path: Path) -> None:
    sample, reads, _ = sample_reads(run)
    address = f"127.79.{os.getpid() % 250 + 1}.{os.getpid() // 250 % 250 + 1}"
    names = list(exfil_names(reads, 60, "exfil.test"))
    pcap = tmp_path / "odd-port.pcapng"
    with _Responder(address) as srv, record_lo(pcap, f"udp and host {address}"):
        assert srv.port not in DNS_PORTS
        for name in names:   # dnspython opens a new socket, so a new source port, per query
            dns.query.udp(dns.message.make_query(name, "A"), address, port=srv.port, timeout=5)
    assert srv.received == len(names)
    report = replay([pcap], [run], cache_dir=tmp_path / "cache", jobs=1).report
    flow = f"udp 127.0.0.1:* > {address}:{srv.port}"
    on_flow = [f for f in report["findings"] if f["flow"] == flow]
    (content,) = [f for f in on_flow if "sequence" in f["evidence_kinds"]]    # one finding per leak
    assert "dns-tunnel" in {f["kind"] for f in on_flow}, report["findings"]
    assert content["samples"] == [sample]


def _captures(shared_data: Path) -> list[Path]:
    ours = [p for p in (REPO / "captures").rglob("*.pcap*") if p.is_file()]
    theirs = [p for p in (shared_data / "captures").rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz")]
    return sorted(ours) + sorted(theirs)


def test_no_dns_found_by_content_where_there_is_none(shared_data: Path) -> None:
    """Every public trace and capture of ours: DNS off its ports only where there is DNS."""
    found: set[tuple[str, str]] = set()
    captures = _captures(shared_data)
    assert len(captures) >= 165
    for path in captures:
        try:
            segments = list(open_capture(path))
        except CaptureError:
            continue       # not ours to judge here: the capture tests cover unreadable files
        for seg in segments:
            if seg.transport == "udp" and not {seg.sport, seg.dport} & set(DNS_PORTS) and looks_like_dns(seg.data):
                found.add((path.name, "udp"))
        d = Dissector()
        for seg in segments:
            if seg.transport == "tcp":
                d.feed(seg)
        d.close()
        if any(f.app == "dns" and 53 not in (f.sport, f.dport) for f in d.flows.values()):
            found.add((path.name, "tcp"))
    assert found == DNS_ELSEWHERE


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_reads_the_udp_one_as_dns_too(shared_data: Path) -> None:
    path = shared_data / "captures" / "public-traces" / "tcpdump__dns_udp_8053.pcap"
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.protocols"], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out and all(p.endswith(":dns") for p in out)
