"""NFLOG: the payload TLV found among others, either host byte order; real captures."""

from __future__ import annotations

import struct

from sandbox.captures import open_capture
from sandbox.captures.writer import ip_packet, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

NFLOG = 239
TRACES = "captures/public-traces"


def _ip() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))


def _message(order: str, tlvs: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(struct.pack(order + "HH", 4 + len(v), k) + v + bytes(-len(v) % 4) for k, v in tlvs)
    return bytes([2, 0, 0, 1]) + body


def test_payload_after_other_tlvs_in_either_byte_order():
    for order in "<>":
        frame = _message(order, [(1, b"\x08\x00\x01\x00"), (10, b"prefix\0"), (9, _ip())])
        assert decode(frame, NFLOG)[0].data == b"inside", order


def test_bad_lengths_and_a_missing_payload_are_not_examined():
    assert outcome(_message("<", [(1, b"\x08\x00\x01\x00")]), NFLOG) == "link type 239: headers cut short or malformed"
    assert outcome(bytes([2, 0, 0, 1]) + struct.pack("<HH", 200, 9) + _ip(), NFLOG).startswith("link type 239")


def test_real_nflog_captures(shared_data):
    ours = same_as_tshark(shared_data / TRACES / "zeek__nflog-http.pcap")
    assert [c for c in ours if c[0] == "tcp"]
    assert same_as_tshark(shared_data / TRACES / "tcpdump__nflog.pcap")
    bad = open_capture(shared_data / TRACES / "zeek__nflog-bad-tlv-len.pcap")
    assert not list(bad) and bad.stats.unexamined == {"link type 239: headers cut short or malformed": 1}
