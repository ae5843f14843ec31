"""PPPoE sessions over Ethernet, VLAN and QinQ; discovery carries no data; real captures."""

from __future__ import annotations

import struct

from sandbox.captures.examined import NOT_DATA
from sandbox.captures.writer import ethernet, ip_packet, ppp, pppoe_session, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

TRACES = "captures/public-traces"


def _ip() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))


def test_sessions_over_plain_vlan_and_qinq_ethernet():
    for vlans in ((), (10,), (100, 200)):
        seg, _ = decode(ethernet(pppoe_session(ppp(_ip())), ethertype=0x8864, vlans=vlans))
        assert seg.data == b"inside", vlans


def test_discovery_is_harmless_and_a_bad_version_is_not_examined():
    padi = struct.pack("!BBHH", 0x11, 0x09, 0, 4) + bytes(4)
    assert outcome(ethernet(padi, ethertype=0x8863)) == NOT_DATA[0x8863]
    bad = b"\x22" + pppoe_session(ppp(_ip()))[1:]
    assert outcome(ethernet(bad, ethertype=0x8864)) == "ethertype 0x8864 (PPPoE session): headers malformed"


def test_real_pppoe_captures(shared_data):
    ours = same_as_tshark(shared_data / TRACES / "zeek__pppoe-over-qinq.pcap")
    assert ("tcp", frozenset({("1.1.1.1", 20394), ("2.2.2.2", 443)})) in ours
    assert not same_as_tshark(shared_data / TRACES / "tcpdump__pppoes.pcap")    # LCP only
