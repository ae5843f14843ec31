"""802.11 frames: data frames read to their LLC body; what carries no data, or cannot be read, said."""

from __future__ import annotations

import struct

import pytest

from sandbox.captures.examined import NAMES, NOT_DATA
from sandbox.captures.numbers import (
    WLAN_AMSDU,
    WLAN_CONTROL,
    WLAN_FRAGMENT,
    WLAN_MANAGEMENT,
    WLAN_NO_DATA,
    WLAN_PROTECTED,
)
from sandbox.captures.writer import ip_packet, udp_datagram, wlan_data
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

WLAN_LINK = 105
TRACES = "captures/public-traces"
SNAP_IPV4 = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"


def _ip() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))


def _frame(fc: int, flags: int, body: bytes, qos: bytes = b"", four_addresses: bool = False,
           sequence: int = 0x10) -> bytes:
    header = struct.pack("<BB", fc, flags) + bytes(2) + bytes(18) + struct.pack("<H", sequence)
    return header + (bytes(6) if four_addresses else b"") + qos + body


def test_data_frames_plain_qos_four_address_and_ht_control():
    assert decode(wlan_data(_ip(), qos=False), WLAN_LINK)[0].data == b"inside"
    assert decode(wlan_data(_ip()), WLAN_LINK)[0].data == b"inside"
    assert decode(_frame(0x08, 0x03, SNAP_IPV4 + _ip(), four_addresses=True), WLAN_LINK)[0].data == b"inside"
    ht = _frame(0x88, 0x81, bytes(4) + SNAP_IPV4 + _ip(), qos=b"\x00\x00")      # order flag: +4 HT control
    assert decode(ht, WLAN_LINK)[0].data == b"inside"


@pytest.mark.parametrize(("frame", "number"), [
    (_frame(0x80, 0, bytes(40)), WLAN_MANAGEMENT),               # beacon
    (_frame(0xD4, 0, b""), WLAN_CONTROL),                        # ACK
    (_frame(0x48, 0x01, b""), WLAN_NO_DATA),                     # null function
    (_frame(0x88, 0x41, bytes(40), qos=b"\x00\x00"), WLAN_PROTECTED),
    (_frame(0x88, 0x01, bytes(40), qos=b"\x80\x00"), WLAN_AMSDU),
    (_frame(0x08, 0x05, SNAP_IPV4 + _ip()), WLAN_FRAGMENT),     # more fragments
    (_frame(0x08, 0x01, SNAP_IPV4 + _ip(), sequence=0x11), WLAN_FRAGMENT),
])
def test_frames_without_a_readable_body(frame, number):
    assert outcome(frame, WLAN_LINK) == NOT_DATA.get(number, NAMES.get(number))


def test_real_monitor_captures(shared_data):
    dns = ("udp", frozenset({("172.17.156.76", 0), ("208.67.220.220", 53)}))   # DNS: one flow per client
    for trace in ("zeek__wlanmon.pcap", "zeek__radiotap.pcap"):      # 802.11 (105) and radiotap (127)
        assert dns in same_as_tshark(shared_data / TRACES / trace), trace
    assert not same_as_tshark(shared_data / TRACES / "tcpdump__ieee802.11_exthdr.pcap")   # management only
