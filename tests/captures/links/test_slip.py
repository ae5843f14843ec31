"""SLIP: the IP packet after the 16-byte pseudo-header; compressed TCP is said, not guessed."""

from __future__ import annotations

from sandbox.captures import open_capture
from sandbox.captures.writer import ip_packet, udp_datagram
from tests.captures.frames import decode, outcome

SLIP = 8


def test_ip_after_the_pseudo_header_and_compressed_tcp_not_examined():
    ip = ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))
    assert decode(bytes([0, 0x40]) + bytes(14) + ip, SLIP)[0].data == b"inside"
    assert outcome(bytes([1, 0x80]) + bytes(14) + b"\x0f\x22" + bytes(20), SLIP) == \
        "Van Jacobson compressed TCP over SLIP"


def test_real_damaged_slip_capture_is_not_clean(shared_data):
    cap = open_capture(shared_data / "captures/public-traces/tcpdump__slip-bad-direction.pcap")
    assert not list(cap) and cap.stats.not_examined("x")
