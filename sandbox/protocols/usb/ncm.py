"""CDC-NCM (Network Control Model 1.0): Ethernet frames packed into NCM Transfer Blocks.

An NTB is a header (NTH16 "NCMH" / NTH32 "ncmh"), then datagram pointer tables (NDP16 "NCM0"/"NCM1",
NDP32 "ncm0"/"ncm1") listing (offset, length) of each frame in the block; tables chain by their
next-index field.  Every frame goes through the network pipeline (see ``ecm``).  A block that does
not parse is scanned raw when it goes OUT: never skipped.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from sandbox.protocols.usb.descriptors import Interface
from sandbox.protocols.usb.ecm import MAX_FRAME, EthernetFunction
from sandbox.protocols.usb.function import Items, Transfer

COMM, NCM = 0x02, 0x0D
NTH16 = struct.Struct("<4sHHHH")     # signature, header length, sequence, block length, first NDP index
NTH32 = struct.Struct("<4sHHII")
NDP16 = struct.Struct("<4sHH")       # signature, length, next NDP index
NDP32 = struct.Struct("<4sHHII")     # signature, length, reserved, next NDP index, reserved
# NDPs followed per block and datagrams per NDP: a 64 KiB block of minimum-size frames holds ~1000;
# more, or a loop of NDPs, is a hostile block.
MAX_NDPS = 16
MAX_DATAGRAMS = 2048


def datagrams(block: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
    """(offset, length) of every frame in an NTB, and of its header and pointer tables; None when
    ``block`` is not one."""
    sig = block[:4]
    if sig == b"NCMH" and len(block) >= NTH16.size:
        index = NTH16.unpack_from(block)[4]
        wide, headers = False, [(0, NTH16.size)]
    elif sig == b"ncmh" and len(block) >= NTH32.size:
        index = NTH32.unpack_from(block)[4]
        wide, headers = True, [(0, NTH32.size)]
    else:
        return None
    found: list[tuple[int, int]] = []
    for _ in range(MAX_NDPS):
        if not index or index + 8 > len(block):
            break
        if wide:
            sig, length, _, nxt, _ = NDP32.unpack_from(block, index)
            entry, size, first = struct.Struct("<II"), 8, index + NDP32.size
        else:
            sig, length, nxt = NDP16.unpack_from(block, index)
            entry, size, first = struct.Struct("<HH"), 4, index + NDP16.size
        if sig[:3].lower() != b"ncm":
            break
        end = min(len(block), index + length)
        headers.append((index, end - index))
        for at in range(first, end - size + 1, size):
            off, n = entry.unpack_from(block, at)
            if not off or not n or len(found) >= MAX_DATAGRAMS:
                break
            found.append((off, n))
        index = nxt
    return (found, headers) if found or len(headers) > 1 else None


class CdcNcmFunction(EthernetFunction):
    name: ClassVar[str] = "cdc-ncm"

    @staticmethod
    def claims(interface: Interface) -> bool:
        return interface.cls == COMM and interface.subclass == NCM

    @staticmethod
    def detect(data: bytes) -> bool:
        return data[:4] in (b"NCMH", b"ncmh") and datagrams(data) is not None

    def transfer(self, tr: Transfer) -> Items:
        if tr.kind == "control":
            return self.control(tr)
        if tr.kind != "bulk" or not tr.data:
            return []
        out: Items = []
        parsed = datagrams(tr.data)
        if parsed is None:
            if tr.direction == "out":
                out += self.raw.feed("out", tr.data, tr.t)
            return out
        found, used = parsed
        for off, n in found:
            piece = tr.data[off:off + min(n, MAX_FRAME)]
            if piece:
                self.frame(piece, tr.direction, tr.t, tr.frame, out)
            used.append((off, len(piece)))
        self.leftovers(tr, used, out)     # padding between datagrams, bytes no table points at
        return out
