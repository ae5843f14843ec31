"""RNDIS (Microsoft Remote NDIS 1.0): Ethernet frames in REMOTE_NDIS_PACKET_MSG messages.

Data messages travel on the bulk endpoints, several per transfer: message type 1, message length,
then DataOffset (from the DataOffset field, i.e. +8) and DataLength of the frame, then
out-of-band and per-packet info fields (44-byte header in all).  Control messages (INITIALIZE,
QUERY, SET) travel as SEND_ENCAPSULATED_COMMAND on the control pipe: OUT data there goes raw.
Wireshark 4.0 has no RNDIS dissector: this decoder stands on its own tests.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from sandbox.protocols.usb.descriptors import Interface
from sandbox.protocols.usb.ecm import MAX_FRAME, EthernetFunction
from sandbox.protocols.usb.function import Items, Transfer

PACKET_MSG = 1
PACKET_HEADER = struct.Struct("<IIII")       # type, message length, data offset, data length
HEADER_SIZE = 44
# (class, subclass, protocol) triples RNDIS functions announce: CDC ACM with the vendor protocol
# (Windows' own), wireless controller RNDIS, miscellaneous RNDIS over Ethernet.
TRIPLES = frozenset(((0x02, 0x02, 0xFF), (0xE0, 0x01, 0x03), (0xEF, 0x04, 0x01)))
# Messages followed in one transfer (MaxTransferSize over the smallest message).
MAX_MESSAGES = 1024


def packets(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """(message offset, frame offset, frame length) of each packet message of a transfer, and the
    bytes the whole messages span."""
    found: list[tuple[int, int, int]] = []
    off = 0
    while off + HEADER_SIZE <= len(data) and len(found) < MAX_MESSAGES:
        mtype, mlen, doff, dlen = PACKET_HEADER.unpack_from(data, off)
        if mtype != PACKET_MSG or mlen < HEADER_SIZE or off + mlen > len(data) or 8 + doff + dlen > mlen:
            break
        found.append((off, off + 8 + doff, dlen))
        off += mlen
    return found, off


class RndisFunction(EthernetFunction):
    name: ClassVar[str] = "rndis"

    @staticmethod
    def claims(interface: Interface) -> bool:
        return interface.triple in TRIPLES

    @staticmethod
    def detect(data: bytes) -> bool:
        found, used = packets(data)
        return any(n for _, _, n in found) and used == len(data)

    def transfer(self, tr: Transfer) -> Items:
        if tr.kind == "control":
            return self.control(tr)
        if tr.kind != "bulk" or not tr.data:
            return []
        out: Items = []
        found, _ = packets(tr.data)
        used = []
        for message, off, n in found:
            piece = tr.data[off:off + min(n, MAX_FRAME)]
            if piece:
                self.frame(piece, tr.direction, tr.t, tr.frame, out)
            used += [(message, HEADER_SIZE), (off, len(piece))]
        self.leftovers(tr, used, out)     # padding, per-packet info, bytes after the last message
        return out
