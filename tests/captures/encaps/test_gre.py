"""GRE: optional fields, RFC 1701 routing, PPTP, Aruba 802.11, Cisco MetaData; real GRE captures."""

from __future__ import annotations

import struct

import pytest

from sandbox.captures.examined import NOT_DATA
from sandbox.captures.numbers import EMPTY, WLAN_MANAGEMENT
from sandbox.captures.writer import ethernet, gre, ip_packet, ipv4, ppp, udp_datagram, wlan_data
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

A, B = "198.51.100.1", "198.51.100.2"


def _inner() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 1111, 2222, b"inside"))


def _over_gre(payload: bytes) -> bytes:
    return ethernet(ipv4(A, B, 47, payload))


@pytest.mark.parametrize("fields", [{}, {"key": 9}, {"seq": 3}, {"key": 9, "seq": 3}])
def test_optional_fields_are_skipped(fields):
    seg, _ = decode(_over_gre(gre(_inner(), 0x0800, **fields)))
    assert (seg.src, seg.dport, seg.data) == ("10.0.0.1", 2222, b"inside")


def test_checksum_and_rfc1701_routing_are_skipped():
    routes = struct.pack("!HBB", 0x0800, 0, 8) + bytes(8) + struct.pack("!HBB", 0, 0, 0)
    header = struct.pack("!HHHH", 0xC000, 0x0800, 0, 0)       # C and R: checksum + offset, then routes
    seg, _ = decode(_over_gre(header + routes + _inner()))
    assert seg.data == b"inside"
    endless = struct.pack("!HBB", 0x0800, 0, 4) + bytes(4)
    assert outcome(_over_gre(header + endless * 40 + _inner())) == "IP protocol 47 (GRE): headers malformed"


def test_pptp_enhanced_gre_carries_ppp():
    body = ppp(_inner())
    header = struct.pack("!HHHHII", 0x3081, 0x880B, len(body), 6, 1, 1)   # K, S, A; version 1
    assert decode(_over_gre(header + body))[0].data == b"inside"


def test_aruba_access_points_tunnel_80211():
    seg, _ = decode(_over_gre(gre(wlan_data(_inner()), 0x8210)))
    assert seg.data == b"inside"
    beacon = bytes([0x80, 0]) + bytes(30)
    assert outcome(_over_gre(gre(beacon, 0x8200))) == NOT_DATA[WLAN_MANAGEMENT]


def test_cisco_metadata_in_gre_has_its_ethertype_first():
    cmd = struct.pack("!HBBHH", 0x0800, 1, 1, 1, 42)
    assert decode(_over_gre(gre(cmd + _inner(), 0x8909)))[0].data == b"inside"


def test_keepalive_without_payload_is_empty_and_unknown_protocols_are_not_examined():
    assert outcome(_over_gre(gre(b"", 0x0000, key=40))) == NOT_DATA[EMPTY]
    assert outcome(_over_gre(gre(b"\x01" * 30, 0x8137))) == "ethertype 0x8137 (IPX)"


@pytest.mark.parametrize("trace", ["zeek__tunnels__gre-sample.pcap", "zeek__tunnels__gre-aruba.pcap",
                                   "tcpdump__various_gre.pcap"])
def test_real_gre_captures_give_tsharks_inner_conversations(shared_data, trace):
    same_as_tshark(shared_data / "captures" / "public-traces" / trace)
