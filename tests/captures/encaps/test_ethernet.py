"""Ethernet inside tunnels (transparent bridging, 0x6558 and GRE's 0x6400), VLAN tags and all."""

from __future__ import annotations

from sandbox.captures.writer import ethernet, gre, ip_packet, ipv4, udp_datagram
from tests.captures.frames import decode


def test_bridged_frames_with_vlan_tags():
    ip = ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))
    for protocol in (0x6558, 0x6400):
        for vlans in ((), (10,), (100, 200)):
            frame = ethernet(ipv4("192.0.2.1", "192.0.2.2", 47, gre(ethernet(ip, vlans=vlans), protocol)))
            assert decode(frame)[0].data == b"inside", (protocol, vlans)
