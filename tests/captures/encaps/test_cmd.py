"""Cisco MetaData: the Ethernet layout (ethertype last) and the GRE one (ethertype first)."""

from __future__ import annotations

import struct

from sandbox.captures.writer import ethernet, gre, ip_packet, ipv4, udp_datagram
from tests.captures.frames import decode


def _ip() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))


def test_on_ethernet_and_in_gre():
    on_ethernet = struct.pack("!BBHHH", 1, 1, 1, 42, 0x0800) + _ip()
    assert decode(ethernet(on_ethernet, ethertype=0x8909))[0].data == b"inside"
    in_gre = struct.pack("!HBBHH", 0x0800, 1, 1, 1, 42) + _ip()
    assert decode(ethernet(ipv4("192.0.2.1", "192.0.2.2", 47, gre(in_gre, 0x8909))))[0].data == b"inside"
