"""802.2 LLC and SNAP: ethertypes under SNAP, control protocols harmless, IPX and NetBEUI not examined."""

from __future__ import annotations

import struct

from sandbox.captures.examined import NOT_DATA
from sandbox.captures.numbers import CISCO_SNAP, LLC_SAP, OSI_ROUTING
from sandbox.captures.writer import ip_packet, udp_datagram
from tests.captures.frames import decode, outcome

MACS = bytes(12)


def _dot3(llc_payload: bytes) -> bytes:
    """An 802.3 frame: a length where Ethernet II has its type."""
    return MACS + struct.pack("!H", len(llc_payload)) + llc_payload


def test_snap_with_an_ethertype_carries_ip():
    ip = ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))
    assert decode(_dot3(b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ip))[0].data == b"inside"


def test_control_protocols_are_harmless():
    assert outcome(_dot3(b"\x42\x42\x03" + bytes(35))) == NOT_DATA[LLC_SAP | 0x42]                 # STP
    assert outcome(_dot3(b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + bytes(30))) == NOT_DATA[CISCO_SNAP | 0x2000]
    assert outcome(_dot3(b"\xfe\xfe\x03\x83" + bytes(30))) == NOT_DATA[OSI_ROUTING]                 # IS-IS


def test_protocols_that_carry_data_are_not_examined():
    assert outcome(_dot3(b"\xff\xff" + bytes(40))) == "LLC SAP 0xff (raw 802.3 Novell IPX)"
    assert outcome(_dot3(b"\xe0\xe0\x03" + bytes(40))) == "LLC SAP 0xe0 (Novell IPX over LLC)"
    assert outcome(_dot3(b"\xf0\xf0\x03" + bytes(40))) == "LLC SAP 0xf0 (NetBIOS frames (NetBEUI))"
    assert outcome(_dot3(b"\xfe\xfe\x03\x81" + bytes(30))) == "LLC SAP 0xfe (OSI CLNP)"
    assert outcome(_dot3(b"\xaa\xaa\x03\x08\x00\x07\x80\x9b" + bytes(30))) == "SNAP under an unknown OUI"
    assert outcome(_dot3(b"\xf0\xf0\x01\x00" + bytes(40))) == "LLC SAP 0xf0 (NetBIOS frames (NetBEUI))"  # I frame
