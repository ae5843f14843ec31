"""MPLS: label stacks, pseudowire Ethernet, a bound on the stack; real captures."""

from __future__ import annotations

import struct

from sandbox.captures.encaps.mpls import MAX_LABELS
from sandbox.captures.writer import ethernet, ip_packet, ipv4, mpls, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

TRACES = "captures/public-traces"


def _ip(v6: bool = False) -> bytes:
    a, b = ("2001:db8::1", "2001:db8::2") if v6 else ("10.0.0.1", "10.0.0.2")
    return ip_packet(a, b, 17, udp_datagram(a, b, 7, 8, b"inside"))


def test_label_stacks_before_either_ip():
    for labels in ((16,), (16, 17, 18, 19)):
        for v6 in (False, True):
            assert decode(ethernet(mpls(_ip(v6), labels), ethertype=0x8847))[0].data == b"inside"


def test_pseudowire_ethernet_and_mpls_in_ip():
    pw = mpls(bytes(4) + ethernet(_ip()), (100,))
    assert decode(ethernet(pw, ethertype=0x8847))[0].data == b"inside"
    assert decode(ethernet(ipv4("192.0.2.1", "192.0.2.2", 137, mpls(_ip()))))[0].data == b"inside"


def test_a_stack_deeper_than_the_bound_is_not_examined():
    deep = b"".join(struct.pack("!I", (16 << 12) | 64) for _ in range(MAX_LABELS)) + mpls(_ip(), (17,))
    assert outcome(ethernet(deep, ethertype=0x8847)) == "MPLS label stacks deeper than we follow"


def test_real_mpls_capture(shared_data):
    ours = same_as_tshark(shared_data / TRACES / "zeek__mixed-vlan-mpls.pcap")
    assert ("tcp", frozenset({("10.1.2.1", 11001), ("10.34.0.1", 23)})) in ours     # the one under MPLS
