"""PPP frames: HDLC address/control, compressed protocol fields, control protocols, compressed data."""

from __future__ import annotations

from sandbox.captures.examined import NOT_DATA
from sandbox.captures.numbers import PPP_PROTO
from sandbox.captures.writer import ip_packet, ppp, udp_datagram
from tests.captures.frames import decode, outcome

PPP_LINK = 9


def _ip(v6: bool = False) -> bytes:
    a, b = ("2001:db8::1", "2001:db8::2") if v6 else ("10.0.0.1", "10.0.0.2")
    return ip_packet(a, b, 17, udp_datagram(a, b, 7, 8, b"inside"))


def test_with_and_without_hdlc_framing_both_families():
    for v6 in (False, True):
        for hdlc in (False, True):
            assert decode(ppp(_ip(v6), hdlc=hdlc), PPP_LINK)[0].data == b"inside"


def test_a_compressed_protocol_field_is_one_odd_byte():
    assert decode(b"\x21" + _ip(), PPP_LINK)[0].data == b"inside"


def test_control_is_harmless_and_compressed_datagrams_are_not_examined():
    assert outcome(b"\xc0\x21\x01\x01\x00\x04", PPP_LINK) == NOT_DATA[PPP_PROTO | 0xC021]
    assert outcome(b"\x00\xfd" + bytes(40), PPP_LINK) == "PPP protocol 0x00fd (CCP-compressed datagram)"
