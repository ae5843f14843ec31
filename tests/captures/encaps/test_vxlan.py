"""VXLAN: the I flag decides; both ports; real captures (one a BIG TCP frame tshark stops at)."""

from __future__ import annotations

from sandbox.captures.writer import ethernet, ip_packet, ipv4, udp_datagram, vxlan
from tests.captures.conversations import our_conversations, same_as_tshark
from tests.captures.frames import decode

A, B = "198.51.100.1", "198.51.100.2"
TRACES = "captures/public-traces"
VXLAN_PORTS = frozenset((4789, 8472))


def _inner() -> bytes:
    return ethernet(ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside")))


def _outer(port: int, payload: bytes) -> bytes:
    return ethernet(ipv4(A, B, 17, udp_datagram(A, B, 50000, port, payload)))


def test_both_ports_carry_ethernet():
    for port in VXLAN_PORTS:
        seg, _ = decode(_outer(port, vxlan(_inner())))
        assert (seg.src, seg.dport, seg.data) == ("10.0.0.1", 8, b"inside")


def test_without_the_vni_flag_the_datagram_stays_udp_whole():
    payload = b"\x00" + vxlan(_inner())[1:]
    seg, _ = decode(_outer(4789, payload))
    assert (seg.dst, seg.dport, seg.data) == (B, 4789, payload)
    seg, _ = decode(_outer(4789, b"\x08\x00\x00\x00"))       # too short to hold an Ethernet frame
    assert seg.dport == 4789


def test_real_vxlan_captures(shared_data):
    for trace in ("zeek__tunnels__vxlan.pcap", "zeek__tunnels__vxlan-encapsulated-http.pcap",
                  "tcpdump__vxlan_port_8472.pcap"):
        assert not [c for c in same_as_tshark(shared_data / TRACES / trace, VXLAN_PORTS)
                    if any(port in VXLAN_PORTS for _, port in c[1])], trace     # every carrier was peeled
    http = our_conversations(shared_data / TRACES / "zeek__tunnels__vxlan-encapsulated-http.pcap")
    assert http == {("tcp", frozenset({("172.16.11.201", 40354), ("54.86.237.188", 80)}))}


def test_a_big_tcp_frame_is_read_where_tshark_stops(shared_data):
    """IPv4 total length 0 (BIG TCP, 80 kB): tshark stops at the outer UDP; the inner TCP is there."""
    ours = our_conversations(shared_data / TRACES / "tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap")
    assert ours == {("tcp", frozenset({("192.168.1.1", 36449), ("192.168.1.2", 36875)}))}
