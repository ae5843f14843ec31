"""PPP in HDLC framing and Cisco HDLC, told apart by the first byte; a damaged real capture."""

from __future__ import annotations

import struct

from sandbox.captures import open_capture
from sandbox.captures.writer import ip_packet, ppp, udp_datagram
from tests.captures.frames import decode

PPP_HDLC, C_HDLC = 50, 104


def test_ppp_and_cisco_hdlc():
    ip = ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))
    assert decode(ppp(ip, hdlc=True), PPP_HDLC)[0].data == b"inside"
    for address in (0x0F, 0x8F):
        for link in (PPP_HDLC, C_HDLC):
            assert decode(struct.pack("!BBH", address, 0, 0x0800) + ip, link)[0].data == b"inside"


def test_real_damaged_ppp_capture_is_not_clean(shared_data):
    cap = open_capture(shared_data / "captures/public-traces/tcpdump__ppp_ip_udp_dns.pcap")
    assert not list(cap) and "PPP protocol 0x00ff" in cap.stats.unexamined
