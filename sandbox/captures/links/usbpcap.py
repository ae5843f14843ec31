"""LINKTYPE_USBPCAP (249): Windows USBPcap pseudo-header (little-endian, packed).

headerLen u16, irpId u64, status u32, function u16, info u8 (bit 0: PDO->FDO, i.e. completion on
its way back up), bus u16, device u16, endpoint u8 (bit 7 = IN), transfer u8, dataLength u32;
``headerLen`` covers transfer-specific extras (control stage byte, isochronous descriptors).
A control transfer is written in stages: the setup packet (stage 0, its 8 bytes as the data), the
OUT data (stage 1), the completion (stage 3, with IN data); ``irpId`` ties them together.
"""

from __future__ import annotations

import struct

from sandbox.captures.links.usb import segment
from sandbox.model import Segment

HEADER = struct.Struct("<HQIHBHHBBI")   # 27 bytes
CONTROL_STAGES = ("setup", "data", "status", "complete")
CONTROL, SETUP_STAGE = 2, 0


def segments(data: bytes, t: float, frame: int) -> list[Segment]:
    hlen, irp, status, function, info, bus, device, endpoint, transfer, length = HEADER.unpack_from(data)
    if hlen < HEADER.size:
        return []
    payload = data[hlen:hlen + length]
    completion = bool(info & 1)
    meta: dict[str, object] = {"urb": "C" if completion else "S", "urb_id": irp, "status": status,
                               "function": function}
    if transfer == CONTROL and hlen > HEADER.size:
        stage = data[HEADER.size]
        meta["stage"] = CONTROL_STAGES[stage] if stage < 4 else str(stage)
        if stage == SETUP_STAGE:
            # the request goes host -> device whatever the direction of its data stage
            return [segment(bus, device, endpoint & 0x7F, transfer, b"", t, frame, length=0,
                            setup=payload[:8].ljust(8, b"\0"), **meta)]
    carries = completion == bool(endpoint & 0x80)    # OUT data going down, IN data coming back up
    if not payload and not (carries and length):
        return []
    return [segment(bus, device, endpoint, transfer, payload, t, frame, length=length if carries else len(payload),
                    **meta)]
