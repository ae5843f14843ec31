"""LINKTYPE_PKTAP (258): Apple's packet tap, a per-packet header naming the real link type.

The header (host byte order, little-endian on every Apple platform) starts with its own length
and says, among process and interface names, the DLT of the packet that follows it: one of the
DLTs macOS interfaces have (Ethernet and Wi-Fi as Ethernet, loopback and utun as NULL or RAW, PPP).
"""

from __future__ import annotations

import struct

from sandbox.captures.links import ethernet, loop, null, ppp, raw

PKTAP = struct.Struct("<III")      # header length, record type, DLT of the packet
RECORD_PACKET = 1
INNER = {0: null, 1: ethernet, 9: ppp, 12: raw, 14: raw, 101: raw, 108: loop}


def network(data: bytes) -> tuple[int, int]:
    length, record, dlt = PKTAP.unpack_from(data)
    link = INNER.get(dlt)
    if record != RECORD_PACKET or length < PKTAP.size or link is None:
        raise ValueError(f"PKTAP record type {record} of link type {dlt}")
    proto, off = link.network(data[length:])
    return proto, length + off
