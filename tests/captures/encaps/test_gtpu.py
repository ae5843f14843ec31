"""GTP-U: optional fields, extension header chains, signalling; a real mobile-core capture."""

from __future__ import annotations

import struct

from sandbox.captures.examined import NOT_DATA
from sandbox.captures.numbers import GTP_SIGNALLING
from sandbox.captures.writer import ethernet, gtpu, ip_packet, ipv4, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

A, B = "198.51.100.1", "198.51.100.2"


def _ip() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))


def _outer(payload: bytes) -> bytes:
    return ethernet(ipv4(A, B, 17, udp_datagram(A, B, 2152, 2152, payload)))


def test_plain_and_sequenced_g_pdus():
    assert decode(_outer(gtpu(_ip())))[0].data == b"inside"
    assert decode(_outer(gtpu(_ip(), sequence=9)))[0].data == b"inside"


def test_extension_headers_are_followed_to_the_end_of_their_chain():
    pdu_session = bytes([1, 0x10, 5, 0x85])             # 4 bytes, next: 0x85
    another = bytes([2]) + bytes(6) + bytes([0])          # 8 bytes, next: none
    header = struct.pack("!BBHIHBB", 0x34, 0xFF, 0, 1, 0, 0, 0x85)
    assert decode(_outer(header + pdu_session + another + _ip()))[0].data == b"inside"
    endless = bytes([1, 0, 0, 0x85])
    assert outcome(_outer(header + endless * 20 + _ip())) == "UDP port 2152 (GTP-U): headers malformed"


def test_signalling_carries_no_user_data_and_gtp_prime_stays_udp():
    echo = struct.pack("!BBHIHBB", 0x32, 1, 4, 0, 1, 0, 0)
    assert outcome(_outer(echo)) == NOT_DATA[GTP_SIGNALLING]
    prime = bytes([0x20]) + gtpu(_ip())[1:]              # protocol type 0: GTP', charging, not user plane
    assert decode(_outer(prime))[0].dport == 2152


def test_real_gtp_capture(shared_data):
    trace = shared_data / "captures/public-traces/zeek__tunnels__gtp__gtp1_gn_normal_incl_fragmentation.pcap"
    (inner,) = same_as_tshark(trace, frozenset({2152}))
    assert inner[0] == "tcp" and 80 in {port for _, port in inner[1]}
