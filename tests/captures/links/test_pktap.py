"""PKTAP: the header's own length and the inner link type it names; a real macOS capture."""

from __future__ import annotations

import struct

from sandbox.captures.writer import ethernet, ip_packet, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

PKTAP = 258


def _ip() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))


def test_inner_ethernet_and_null_links():
    assert decode(struct.pack("<III", 108, 1, 1) + bytes(96) + ethernet(_ip()), PKTAP)[0].data == b"inside"
    assert decode(struct.pack("<III", 12, 1, 0) + struct.pack("<I", 2) + _ip(), PKTAP)[0].data == b"inside"


def test_an_inner_link_type_we_do_not_read_is_not_examined():
    assert outcome(struct.pack("<III", 12, 1, 147) + bytes(40), PKTAP).startswith("link type 258")


def test_real_pktap_capture(shared_data):
    assert same_as_tshark(shared_data / "captures/public-traces/tcpdump__LINKTYPE_PKTAP.pcap")
