"""IEEE 802.2 LLC, and SNAP under it: what an 802.3 length field, 802.11 and ARCNET bodies carry.

DSAP, SSAP, then a control field of one byte (U frames: low bits 11) or two (I and S frames).
SNAP (DSAP = SSAP = 0xAA) adds an OUI and a protocol id: OUI 00-00-00 (and 00-00-F8, "bridge
tunnel") means the protocol id is an ethertype; Cisco's 00-00-0C has its own ids (CDP, DTP...).
"""

from __future__ import annotations

from sandbox.captures.numbers import CISCO_SNAP, LLC, LLC_SAP, OSI_ROUTING, SNAP_OTHER

SNAP_SAP = 0xAA
RAW_IPX = 0xFF               # "raw 802.3": Novell IPX straight after the length field (checksum FF FF)
ETHERTYPE_OUIS = frozenset((0x000000, 0x0000F8))
CISCO_OUI = 0x00000C
OSI_SAP = 0xFE
OSI_ROUTING_NLPIDS = frozenset((0x82, 0x83))   # ES-IS, IS-IS (ISO 9542, ISO 10589)


def decap(data: bytes, off: int) -> tuple[int, int]:
    dsap, ssap = data[off], data[off + 1]
    if dsap == RAW_IPX and ssap == RAW_IPX:
        return LLC_SAP | RAW_IPX, off
    off += 3 if data[off + 2] & 0x03 == 0x03 else 4
    if dsap == OSI_SAP and data[off] in OSI_ROUTING_NLPIDS:
        return OSI_ROUTING, off
    if dsap != SNAP_SAP or ssap != SNAP_SAP:
        return LLC_SAP | dsap, off
    oui = int.from_bytes(data[off:off + 3], "big")
    pid = int.from_bytes(data[off + 3:off + 5], "big")
    if len(data) < off + 5:
        raise IndexError("SNAP header cut short")
    if oui in ETHERTYPE_OUIS:
        return pid, off + 5
    return (CISCO_SNAP | pid if oui == CISCO_OUI else SNAP_OTHER), off + 5


REGISTER = {LLC: decap}
