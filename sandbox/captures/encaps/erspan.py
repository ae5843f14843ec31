"""ERSPAN, how a switch's SPAN port reaches a rig over GRE: types II (0x88BE) and III (0x22EB).

Type I has no header of its own (GRE without a sequence number: ``gre.py`` hands it to Ethernet).
Type II is 8 bytes (version 1).  Type III is 12 bytes (version 2), plus an 8-byte platform
sub-header when its O flag is set; its frame type says what follows: 0 Ethernet, 2 IP.
"""

from __future__ import annotations

from sandbox.captures.encaps.header import Header
from sandbox.captures.numbers import ERSPAN_FRAME, TEB, by_version

TYPE_II = Header("erspan2", ("version_vlan", "H"), ("session", "H"), ("index", "I"))
TYPE_III = Header("erspan3", ("version_vlan", "H"), ("session", "H"), ("timestamp", "I"),
                  ("sgt", "H"), ("flags", "H"))
PLATFORM_SUBHEADER = 8
FRAME_ETHERNET, FRAME_IP = 0, 2


def decap_type2(data: bytes, off: int) -> tuple[int, int]:
    if len(data) - off < TYPE_II.size:
        raise IndexError("ERSPAN II header cut short")
    return TEB, off + TYPE_II.size


def decap_type3(data: bytes, off: int) -> tuple[int, int]:
    header = TYPE_III.unpack(data, off)
    off += TYPE_III.size + (PLATFORM_SUBHEADER if header.flags & 0x0001 else 0)
    frame_type = (header.flags >> 10) & 0x1F
    if frame_type == FRAME_ETHERNET:
        return TEB, off
    if frame_type == FRAME_IP:
        return by_version(data, off), off
    return ERSPAN_FRAME, off


REGISTER = {0x88BE: decap_type2, 0x22EB: decap_type3}
