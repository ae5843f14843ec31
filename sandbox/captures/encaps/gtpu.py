"""GTP-U version 1 (3GPP TS 29.281; UDP 2152): a mobile network's user plane, IP inside.

8 bytes (flags, message type, length, TEID); when any of E, S, PN is set, 4 more (sequence,
N-PDU, next extension type), then extension headers, each ``length * 4`` bytes ending with the
next type.  Message type 255 (G-PDU) carries a user's IP packet; the others are signalling.
"""

from __future__ import annotations

from sandbox.captures.encaps.header import Header
from sandbox.captures.numbers import DECLINED, GTP_SIGNALLING, UDP_PORT, by_version

GTP = Header("gtpu", ("flags", "B"), ("message", "B"), ("length", "H"), ("teid", "I"))
VERSION_1_GTP = 0x30          # version 1 (top 3 bits 001) and protocol type GTP (not GTP')
OPTIONAL_FIELDS = 0x07        # E, S, PN
G_PDU = 0xFF
# Extension headers followed: 3GPP defines a handful and a packet carries one or two; a longer chain
# is a crafted packet.
MAX_EXTENSIONS = 8


def decap(data: bytes, off: int) -> tuple[int, int]:
    if len(data) - off < GTP.size or data[off] & 0xF0 != VERSION_1_GTP:
        return DECLINED, off
    header = GTP.unpack(data, off)
    off += GTP.size
    if header.flags & OPTIONAL_FIELDS:
        following = data[off + 3]
        off += 4
        for _ in range(MAX_EXTENSIONS):
            if not following:
                break
            size = data[off] * 4
            if not size:
                raise ValueError("GTP-U extension header of length 0")
            following = data[off + size - 1]
            off += size
        else:
            raise ValueError(f"GTP-U extension chain longer than {MAX_EXTENSIONS}")
    if header.message != G_PDU:
        return GTP_SIGNALLING, off
    return by_version(data, off), off


REGISTER = {UDP_PORT | 2152: decap}
