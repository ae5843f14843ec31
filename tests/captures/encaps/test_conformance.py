"""Conformance suite: every tunnel kind the writer builds, read back, by tshark, cut short, and replayed.

A run file's bytes uploaded inside each tunnel are a leak on the inner flow (its direction and
destination, not the tunnel's); the same file downloaded inside it is no leak.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.captures import open_capture
from sandbox.captures.encaps import DECAPS, MODULES
from sandbox.captures.ip import IpDecoder
from sandbox.captures.links import ethernet as ethernet_link
from sandbox.captures.numbers import UDP_PORT
from sandbox.captures.writer import (
    ENCAPSULATIONS,
    PcapWriter,
    TcpConversation,
    Tunnel,
    ethernet,
    ipv4,
    udp,
    udp_datagram,
)
from sandbox.replay import replay
from tests.captures.conversations import folded, our_conversations, tshark_conversations, without

RUN = "illumina/230825_M04034_0043_000000000-L6NVV"
RUN_FILE = "InterOp/ErrorMetricsOut.bin"
# Inner endpoints (the instrument and the server it talks to) and the tunnel's own endpoints.
V4 = (("10.20.0.5", 40100), ("203.0.113.80", 8080))
V6 = (("2001:db8:20::5", 40100), ("2001:db8:113::80", 8080))
OUTER = ("192.0.2.1", "192.0.2.2")
CARRIERS = frozenset(port - UDP_PORT for port in DECAPS if port & UDP_PORT == UDP_PORT and port < UDP_PORT + 65536)
KINDS = sorted(ENCAPSULATIONS)
IPV6_ONLY = {"teredo"}


def _families(kind: str) -> list[tuple]:
    return [V6] if kind in IPV6_ONLY else [V4, V6]


def _cases() -> list:
    return [pytest.param(kind, inner, id=f"{kind}-{'v6' if ':' in inner[0][0] else 'v4'}")
            for kind in KINDS for inner in _families(kind)]


@pytest.fixture(scope="module")
def run_dir(shared_data: Path) -> Path:
    return shared_data / RUN


@pytest.fixture(scope="module")
def index_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sbx-see-everything-index")


def _http(path: Path, kind: str, inner: tuple, body: bytes, upload: bool) -> None:
    (client, server) = inner
    with PcapWriter(path) as w:
        conv = TcpConversation(Tunnel(w, kind, OUTER), client, server, t0=10.0)
        if upload:
            conv.send(b"POST /upload HTTP/1.1\r\nHost: lims.example\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            conv.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
        else:
            conv.send(b"GET /errors.bin HTTP/1.1\r\nHost: lims.example\r\n\r\n")
            conv.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body, from_client=False)
        conv.close()
        udp(Tunnel(w, kind, OUTER), (client[0], 5353), (server[0], 53), b"\x12\x34" + bytes(10), t=20.0)


def test_every_module_is_registered_once_and_every_tunnel_kind_is_read():
    assert all(number in DECAPS for module in MODULES for number in module.REGISTER)
    assert {"gre", "erspan1", "erspan2", "erspan3", "pppoe", "pppoe-qinq", "vxlan", "geneve", "gtpu", "ipip",
            "mpls"} <= set(KINDS)


@pytest.mark.parametrize(("kind", "inner"), _cases())
def test_inner_segments_carry_the_inner_addresses(tmp_path, kind, inner):
    path = tmp_path / "t.pcap"
    _http(path, kind, inner, b"x" * 5000, upload=True)
    cap = open_capture(path)
    segments = list(cap)
    (client, server) = inner
    assert cap.stats.packets == len(segments) and not cap.stats.unexamined and not cap.errors
    assert {(s.src, s.dst) for s in segments} == {(client[0], server[0]), (server[0], client[0])}
    sent = b"".join(s.data for s in segments if s.transport == "tcp" and s.src == client[0])
    assert sent.endswith(b"x" * 5000) and sent.startswith(b"POST /upload")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_inner_flows_equal_tsharks_conversations(tmp_path):
    """Every kind and family in one capture (one tshark run), each on its own inner client port."""
    path = tmp_path / "all.pcap"
    with PcapWriter(path) as w:
        for n, case in enumerate(_cases()):
            kind, ((client, cport), server) = case.values
            conv = TcpConversation(Tunnel(w, kind, OUTER), (client, cport + n), server, t0=10.0 + n)
            conv.send(b"PUT /x HTTP/1.1\r\nContent-Length: 3000\r\n\r\n" + b"y" * 3000)
            conv.close()
            udp(Tunnel(w, kind, OUTER), (client, 5000 + n), (server[0], 9), b"\x12\x34" + bytes(10), t=11.0 + n)
    ours = our_conversations(path)
    assert ours == without(folded(tshark_conversations(path), ours), CARRIERS)
    assert len(ours) == 2 * len(_cases())      # each case's inner TCP connection and inner UDP datagram


@pytest.mark.parametrize(("kind", "inner"), _cases())
def test_a_run_file_uploaded_inside_the_tunnel_is_a_leak_on_the_inner_flow(tmp_path, run_dir, index_cache, kind,
                                                                           inner):
    path = tmp_path / "up.pcap"
    body = (run_dir / RUN_FILE).read_bytes()[:40000]
    _http(path, kind, inner, body, upload=True)
    report = replay([path], [run_dir], cache_dir=index_cache, jobs=1).report
    (client, server) = inner
    flow = f"tcp {client[0]}:{client[1]} > {server[0]}:{server[1]}" if ":" not in client[0] else \
        f"tcp [{client[0]}]:{client[1]} > [{server[0]}]:{server[1]}"
    leaks = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leaks and {f["flow"] for f in leaks} == {flow}
    assert {f["destination"] for f in leaks} == {"lims.example"}
    assert any(RUN_FILE in [m["path"] for m in f["files"]] for f in leaks)
    assert report["verdict"] == "leak" and report["not_examined"] == []


@pytest.mark.parametrize(("kind", "inner"), _cases())
def test_a_run_file_downloaded_inside_the_tunnel_is_no_leak(tmp_path, run_dir, index_cache, kind, inner):
    path = tmp_path / "down.pcap"
    _http(path, kind, inner, (run_dir / RUN_FILE).read_bytes()[:40000], upload=False)
    report = replay([path], [run_dir], cache_dir=index_cache, jobs=1).report
    assert not [f for f in report["findings"] if f["severity"] in ("medium", "high", "critical")]
    assert report["verdict"] == "clean" and report["not_examined"] == []


@pytest.mark.parametrize(("kind", "inner"), _cases())
def test_a_frame_cut_anywhere_is_read_or_counted_never_raised(kind, inner):
    (client, server) = inner
    frames: list[bytes] = []
    udp(Tunnel(_Frames(frames), kind, OUTER), (client[0], 1000), (server[0], 2000), b"payload", t=1.0)
    (frame,) = frames
    for cut in range(len(frame) + 1):
        decoder = IpDecoder()
        proto, off = ethernet_link.network(frame[:cut]) if cut >= 14 else (0, 14)
        seg = decoder.decode(proto, frame[:cut], off, 1.0, 1)
        counted = sum(decoder.skipped.values()) + sum(decoder.unexamined.values())
        if seg is not None:
            assert counted == 0 and seg.dst in (server[0], OUTER[1])
        else:
            assert counted == 1, (cut, decoder.skipped, decoder.unexamined)
    assert seg is not None and (seg.src, seg.dst, seg.data) == (client[0], server[0], b"payload")


class _Frames:
    """A packet sink that keeps the Ethernet frames written to it."""

    linktype = 1

    def __init__(self, out: list[bytes]) -> None:
        self.out = out

    def write(self, data: bytes, t: float) -> None:
        self.out.append(data)


@settings(max_examples=300, deadline=None)
@given(port=st.sampled_from(sorted(CARRIERS)), payload=st.binary(max_size=120))
def test_garbage_on_a_tunnel_port_is_read_as_udp_or_counted(port, payload):
    frame = ethernet(ipv4(*OUTER, 17, udp_datagram(*OUTER, 40000, port, payload)))
    decoder = IpDecoder()
    seg = decoder.decode(0x0800, frame, 14, 1.0, 1)
    counted = sum(decoder.skipped.values()) + sum(decoder.unexamined.values())
    assert (seg is not None) != (counted == 1)
    if seg is not None and seg.dport == port and seg.transport == "udp":
        assert seg.data == payload     # declined: the datagram stays UDP, whole


IP_CARRIED = [kind for kind in KINDS if kind not in ("pppoe", "pppoe-qinq", "mpls")]   # tunnels with IP endpoints


@pytest.mark.parametrize("kind", IP_CARRIED)
def test_the_same_inner_addresses_in_two_tunnels_are_two_flows_named_by_their_tunnel(tmp_path, run_dir, index_cache,
                                                                                     kind):
    """Private networks behind two gateways reuse addresses: one tunnel's upload must not be
    spliced into the other's stream, and each flow says which tunnel carried it."""
    from sandbox.protocols.flows import Dissector

    inner = V6 if kind in IPV6_ONLY else V4
    path = tmp_path / "two.pcap"
    body = (run_dir / RUN_FILE).read_bytes()[:40000]
    with PcapWriter(path) as w:
        leaky = TcpConversation(Tunnel(w, kind, OUTER), *inner, t0=10.0)
        quiet = TcpConversation(Tunnel(w, kind, ("192.0.2.7", "192.0.2.8")), *inner, t0=10.0)
        request = b"POST /upload HTTP/1.1\r\nHost: lims.example\r\nContent-Length: %d\r\n\r\n"
        leaky.send(request % len(body) + body[:20000])
        quiet.send(request % 30000 + b"z" * 30000)       # same seq numbers, same inner 4-tuple
        leaky.send(body[20000:])
        for conv in (leaky, quiet):
            conv.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
            conv.close()
    d = Dissector()
    for seg in open_capture(path):
        d.feed(seg)
    d.close()
    tcp = {info.meta.get("tunnel"): info for info in d.flows.values() if info.transport == "tcp"}
    name = {"gre": "GRE", "gre-ethernet": "GRE", "gre-ppp": "GRE", "erspan1": "GRE", "erspan2": "GRE",
            "erspan3": "GRE", "vxlan": "VXLAN", "geneve": "Geneve", "gtpu": "GTP-U", "teredo": "Teredo"}.get(
        kind, "IP in IP" if inner is V4 else "IPv6 in IP")
    assert set(tcp) == {f"{name} 192.0.2.1-192.0.2.2", f"{name} 192.0.2.7-192.0.2.8"}
    assert sorted(info.bytes_out for info in tcp.values()) == sorted([len(request % len(body)) + len(body),
                                                                      len(request % 30000) + 30000])
    report = replay([path], [run_dir], cache_dir=index_cache, jobs=1).report
    leaks = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert len({f["flow"] for f in leaks}) == 1 and report["not_examined"] == []
