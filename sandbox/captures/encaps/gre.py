"""GRE (IP protocol 47): version 0 (RFC 2784/2890, with RFC 1701 routing) and version 1 (PPTP, RFC 2637).

After 4 bytes of flags and protocol come, each only when its flag is set: checksum + offset (C or
R), key (K), sequence number (S), and in version 1 an acknowledgement number (A).  The protocol is
an ethertype, with four readings of GRE's own: 0x88BE without a sequence number is ERSPAN type I
(a bare Ethernet frame; type II has one and an ERSPAN header), 0x880B is PPP, 0x8909 is Cisco
MetaData in its GRE layout, and 0x8200-0x8370 are Aruba access points tunnelling 802.11 frames to
their controller (Wireshark's gre.proto table).
"""

from __future__ import annotations

from sandbox.captures.encaps.header import Header
from sandbox.captures.numbers import CMD_IN_GRE, IP_PROTO, PPP, TEB, WLAN

GRE = Header("gre", ("flags", "H"), ("protocol", "H"))
CHECKSUM, ROUTING, KEY, SEQUENCE, ACK = 0x8000, 0x4000, 0x2000, 0x1000, 0x0080
ERSPAN_II = 0x88BE
GRE_PPP = 0x880B
CISCO_METADATA = 0x8909
ARUBA = range(0x8200, 0x8371, 0x10)
# RFC 1701 source route entries walked before giving up: each is one hop of a source route, and
# the field was deprecated by RFC 2784; a longer list is a crafted packet.
MAX_ROUTES = 16


def _routes(data: bytes, off: int) -> int:
    """Offset after an RFC 1701 source route list (entries of family, offset, length; ends at length 0)."""
    for _ in range(MAX_ROUTES):
        length = data[off + 3]
        off += 4 + length
        if length == 0:
            return off
    raise ValueError(f"GRE source route longer than {MAX_ROUTES} entries")


def decap(data: bytes, off: int) -> tuple[int, int]:
    flags, protocol = GRE.unpack(data, off)
    off += GRE.size
    if flags & 0x0007:            # version 1 (PPTP): key always, acknowledgement when A
        off += 4 + (4 if flags & SEQUENCE else 0) + (4 if flags & ACK else 0)
    else:
        off += (4 if flags & (CHECKSUM | ROUTING) else 0) + (4 if flags & KEY else 0)
        off += 4 if flags & SEQUENCE else 0
        if flags & ROUTING:
            off = _routes(data, off)
    if protocol == ERSPAN_II and not flags & SEQUENCE:
        return TEB, off
    if protocol == GRE_PPP:
        return PPP, off
    if protocol in ARUBA:
        return WLAN, off
    if protocol == CISCO_METADATA:
        return CMD_IN_GRE, off
    return protocol, off


REGISTER = {IP_PROTO | 47: decap}
