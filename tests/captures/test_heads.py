"""The record of header fields a packet's sender chose (``Segment.head``): what each transport's holds,
where the timestamp option is found, and how records split into fields."""

from __future__ import annotations

import struct

from sandbox.captures.heads import NO_TIMESTAMPS, TCP_HEAD, columns, fields, tcp_options
from sandbox.captures.ip import IpDecoder
from sandbox.captures.writer import checksum, ipv4, ipv6, tcp_segment, udp_datagram

A, B, A6, B6 = "192.0.2.1", "198.51.100.7", "fd00::1", "2001:db8::7"


def _decode(packet: bytes):
    return IpDecoder().decode(0x86DD if packet[0] >> 4 == 6 else 0x0800, packet, 0, 1.0, 1)


def test_each_transport_s_record():
    tcp = _decode(ipv4(A, B, 6, tcp_segment(A, B, 1, 2, 3, 4, 0x10, b"x", window=777, urgent=9,
                                            options=b"\x01\x01\x08\x0a" + struct.pack("!II", 123456, 1)),
                       ident=0xBEEF, ttl=33, tos=8))
    assert tcp.head == TCP_HEAD.pack(0xBEEF, 8, 33, 777, 9, struct.pack("!II", 123456, 1))
    udp = _decode(ipv6(A6, B6, 17, udp_datagram(A6, B6, 5, 53, b"q"), hop_limit=7, flow_label=0xABCDE))
    assert udp.head == struct.pack("!HBB", 0xBCDE, 0, 7)
    echo = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 0x5678)
    echo = echo[:2] + struct.pack("!H", checksum(echo)) + echo[4:] + b"payload"
    assert _decode(ipv4(A, B, 1, echo, ident=1)).head == struct.pack("!HBBH", 1, 0, 64, 0x5678)
    error = bytes([3, 1, 0, 0, 0, 0, 0, 0]) + ipv4(B, A, 17, udp_datagram(B, A, 1, 2, b"quoted"))
    assert _decode(ipv4(A, B, 1, error, ident=2)).head == struct.pack("!HBBH", 2, 0, 64, 0)


def test_timestamps_wherever_they_are_and_the_values_of_every_other_option():
    def header(options: bytes) -> bytes:
        options += b"\x00" * (-len(options) % 4)
        return bytes(12) + bytes([(5 + len(options) // 4) << 4]) + bytes(7) + options

    stamps = struct.pack("!II", 42, 7)
    ts = b"\x08\x0a" + stamps
    cases = {b"\x01\x01" + ts: stamps, b"\x02\x04\x05\xb4\x04\x02" + ts: stamps + b"\x05\xb4",
             ts + b"\x01\x03\x03\x07": stamps + b"\x07", b"": NO_TIMESTAMPS, b"\x00" + ts: NO_TIMESTAMPS,
             b"\x13\x12" + b"sixteen bytes!!!": NO_TIMESTAMPS + b"sixteen bytes!!!",        # an MD5 signature
             b"\x08\x09" + ts[2:9]: NO_TIMESTAMPS + ts[2:9],                                   # no timestamps
             b"\x02\x00" + ts: NO_TIMESTAMPS + b"\x00" + ts}    # no length: the rest is the sender's
    for options, want in cases.items():
        head = header(options)
        assert tcp_options(head, len(head)) == want, options
    head = header(ts)
    assert tcp_options(head[:-3], len(head)) == NO_TIMESTAMPS + stamps[:7]           # a header cut short


def test_records_split_into_fields_in_packet_order():
    records = (TCP_HEAD.pack(0x0102, 3, 4, 0x0506, 0x0708, b"ABCDabcd")
               + TCP_HEAD.pack(0x1112, 13, 14, 0x1516, 0x1718, b"EFGHefgh"))
    got = columns(records + b"\x99" * 5, fields("tcp", False))        # a record cut short is no record
    assert [(name, size) for name, size, _ in got] == list(fields("tcp", False))
    assert [values for _, _, values in got] == [b"\x01\x02\x11\x12", b"\x03\x0d", b"\x04\x0e", b"\x05\x06\x15\x16",
                                                  b"\x07\x08\x17\x18", b"ABCDEFGH", b"abcdefgh"]
    assert [name for name, _ in fields("udp", True)] == ["IPv6 flow label", "IPv6 traffic class", "IPv6 hop limit"]
