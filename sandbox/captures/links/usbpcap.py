"""LINKTYPE_USBPCAP (249): Windows USBPcap pseudo-header (little-endian, packed).

headerLen u16, irpId u64, status u32, function u16, info u8 (bit 0: PDO->FDO, i.e. completion on
its way back up), bus u16, device u16, endpoint u8 (bit 7 = IN), transfer u8, dataLength u32;
``headerLen`` covers transfer-specific extras (control stage byte, isochronous descriptors).
"""

from __future__ import annotations

import struct

from sandbox.captures.links.usb import segment
from sandbox.model import Segment

HEADER = struct.Struct("<HQIHBHHBBI")   # 27 bytes
CONTROL_STAGES = ("setup", "data", "status", "complete")


def segments(data: bytes, t: float, frame: int) -> list[Segment]:
    hlen, _, status, function, info, bus, device, endpoint, transfer, length = HEADER.unpack_from(data)
    payload = data[hlen:hlen + length]
    if not payload or hlen < HEADER.size:
        return []
    meta: dict[str, object] = {"urb": "C" if info & 1 else "S", "status": status, "function": function,
                               "truncated": len(payload) < length}
    if transfer == 2 and hlen > HEADER.size:
        stage = data[HEADER.size]
        meta["stage"] = CONTROL_STAGES[stage] if stage < 4 else str(stage)
        if stage == 0:
            endpoint &= 0x7F          # a setup packet always goes host -> device
    return [segment(bus, device, endpoint, transfer, payload, t, frame, **meta)]
