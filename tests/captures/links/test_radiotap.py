"""Radiotap: the 802.11 frame at the header's length; a header that is not radiotap is not examined."""

from __future__ import annotations

import struct

from sandbox.captures import open_capture
from sandbox.captures.writer import ip_packet, udp_datagram, wlan_data
from tests.captures.frames import decode, outcome

RADIOTAP = 127


def test_fields_of_any_length_are_skipped():
    ip = ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))
    header = struct.pack("<BBHI", 0, 0, 8 + 12, 0x0000000F) + bytes(12)   # TSFT, flags, rate, channel
    assert decode(header + wlan_data(ip), RADIOTAP)[0].data == b"inside"
    assert outcome(struct.pack("<BBHI", 1, 0, 8, 0) + wlan_data(ip), RADIOTAP).startswith("link type 127")


def test_real_damaged_radiotap_capture_is_not_clean(shared_data):
    cap = open_capture(shared_data / "captures/public-traces/tcpdump__radiotap-heapoverflow.pcap")
    assert not list(cap) and "link type 127: headers cut short or malformed" in cap.stats.unexamined
