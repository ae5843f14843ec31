"""Geneve: options, Ethernet or IP inside, other versions declined; real captures."""

from __future__ import annotations

from sandbox.captures.writer import ethernet, geneve, ip_packet, ipv4, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

A, B = "198.51.100.1", "198.51.100.2"
TRACES = "captures/public-traces"


def _ip() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))


def _outer(payload: bytes) -> bytes:
    return ethernet(ipv4(A, B, 17, udp_datagram(A, B, 50000, 6081, payload)))


def test_options_are_skipped_and_ip_may_come_without_ethernet():
    assert decode(_outer(geneve(ethernet(_ip()), options=bytes(12))))[0].data == b"inside"
    assert decode(_outer(geneve(_ip(), protocol=0x0800)))[0].data == b"inside"


def test_other_versions_stay_udp_and_unknown_protocols_are_not_examined():
    later = bytes([0x40]) + geneve(_ip(), protocol=0x0800)[1:]
    assert decode(_outer(later))[0].dport == 6081
    assert outcome(_outer(geneve(bytes(40), protocol=0x88B5))) == "ethertype 0x88b5 (local experimental)"


def test_real_geneve_captures(shared_data):
    same_as_tshark(shared_data / TRACES / "zeek__tunnels__geneve.pcap", frozenset({6081}))   # ICMP inside
    assert same_as_tshark(shared_data / TRACES / "tcpdump__gso-ipv6-geneve-ipv6.pcap", frozenset({6081}))
