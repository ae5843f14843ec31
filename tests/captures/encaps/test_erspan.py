"""ERSPAN types I, II and III: headers, the type III platform sub-header and frame types; real captures."""

from __future__ import annotations

import struct

from sandbox.captures.writer import erspan, ethernet, gre, ip_packet, ipv4
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

A, B = "198.51.100.1", "198.51.100.2"
TRACES = "captures/public-traces"


def _inner() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 6, bytes(12) + b"\x50\x18" + bytes(6) + b"mirrored")


def _mirror(payload: bytes) -> bytes:
    return ethernet(ipv4(A, B, 47, payload))


def test_types_one_two_three_carry_the_mirrored_frame():
    for version in (1, 2, 3):
        seg, _ = decode(_mirror(erspan(ethernet(_inner()), version)))
        assert (seg.src, seg.dst, seg.data) == ("10.0.0.1", "10.0.0.2", b"mirrored"), version


def test_type_three_platform_subheader_and_ip_frames():
    with_subheader = struct.pack("!HHIHH", 2 << 12, 7, 0, 0, 0x0001) + bytes(8) + ethernet(_inner())
    assert decode(_mirror(gre(with_subheader, 0x22EB, seq=1)))[0].data == b"mirrored"
    ip_frame = struct.pack("!HHIHH", 2 << 12, 7, 0, 0, 2 << 10) + _inner()
    assert decode(_mirror(gre(ip_frame, 0x22EB, seq=1)))[0].data == b"mirrored"
    other = struct.pack("!HHIHH", 2 << 12, 7, 0, 0, 7 << 10) + _inner()
    assert outcome(_mirror(gre(other, 0x22EB, seq=1))) == "ERSPAN type III frames that are neither Ethernet nor IP"


def test_a_cut_type_two_header_is_not_examined():
    assert outcome(_mirror(gre(b"\x10\x00", 0x88BE, seq=1))) == "ethertype 0x88be (ERSPAN II): headers cut short"


def test_real_erspan_captures(shared_data):
    ours = same_as_tshark(shared_data / TRACES / "zeek__erspan.pcap")
    assert ("udp", frozenset({("192.168.69.10", 0), ("192.168.69.2", 53)})) in ours   # DNS: one flow per client
