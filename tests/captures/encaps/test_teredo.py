"""Teredo: origin and authentication indicators, non-IPv6 payloads declined; a real capture."""

from __future__ import annotations

from sandbox.captures.writer import ethernet, ip_packet, ipv4, teredo, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode

A, B = "198.51.100.1", "198.51.100.2"
V6 = ("2001:0:4136:e378::1", "2001:db8::2")


def _ipv6() -> bytes:
    return ip_packet(*V6, 17, udp_datagram(*V6, 7, 8, b"inside"))


def _outer(payload: bytes) -> bytes:
    return ethernet(ipv4(A, B, 17, udp_datagram(A, B, 40000, 3544, payload)))


def test_plain_origin_and_authentication_indicators():
    auth = b"\x00\x01" + bytes([3, 0]) + b"abc" + bytes(8) + b"\x00"
    for payload in (teredo(_ipv6(), origin=False), teredo(_ipv6()), auth + teredo(_ipv6())):
        assert decode(_outer(payload))[0].data == b"inside"


def test_what_is_not_ipv6_stays_udp():
    too_long = b"\x60\x00\x00\x00\x05\xdc" + bytes(40)     # payload length 1500 in a 46-byte datagram
    for payload in (b"\x45" + bytes(60), teredo(_ipv6())[:30], too_long):
        assert decode(_outer(payload))[0].dport == 3544


def test_real_teredo_capture(shared_data):
    """Qualification and bubbles (ICMPv6 inside): every Teredo datagram is peeled, none left as UDP."""
    trace = shared_data / "captures/public-traces/zeek__tunnels__Teredo.pcap"
    ours = same_as_tshark(trace, frozenset({3544}))
    assert ours and not [c for c in ours if any(port == 3544 for _, port in c[1])]
