"""LINKTYPE_USB_LINUX_MMAPPED (220) and LINKTYPE_USB_LINUX (189): Linux usbmon binary headers.

Header (host byte order; captures are little-endian in practice), per Documentation/usb/usbmon:
id u64, type u8 ('S' submit / 'C' complete / 'E' error), transfer u8, endpoint u8, device u8,
bus u16, flag_setup s8, flag_data s8, ts_sec s64, ts_usec s32, status s32, length u32,
len_cap u32, setup 8 bytes; the mmapped variant adds interval, start_frame, xfer_flags, ndesc
(64 bytes in all) and, for isochronous transfers, ``ndesc`` 16-byte descriptors before the data.
"""

from __future__ import annotations

import struct

from sandbox.captures.links.usb import segment
from sandbox.model import Segment

HEADER = struct.Struct("<QBBBBHbbqiiII8s")   # the 48 bytes both variants share
MMAPPED_EXTRA = struct.Struct("<iiII")         # interval, start_frame, xfer_flags, ndesc
ISO_DESC = 16


def _segments(data: bytes, t: float, frame: int, mmapped: bool) -> list[Segment]:
    (_, urb, transfer, endpoint, device, bus, flag_setup, _, _, _, status, length, caplen,
     setup) = HEADER.unpack_from(data)
    off = 48
    if mmapped:
        ndesc = MMAPPED_EXTRA.unpack_from(data, 48)[3]
        off = 64 + (ndesc * ISO_DESC if transfer == 0 else 0)
    payload = data[off:off + caplen]
    urb_type = chr(urb)
    out: list[Segment] = []
    if transfer == 2 and urb_type == "S" and flag_setup == 0:   # the control request itself
        out.append(segment(bus, device, 0, 2, setup, t, frame, urb="S", stage="setup"))
    if payload:
        out.append(segment(bus, device, endpoint, transfer, payload, t, frame, urb=urb_type,
                           status=status, urb_length=length, truncated=caplen < length))
    return out


def segments(data: bytes, t: float, frame: int) -> list[Segment]:
    return _segments(data, t, frame, mmapped=True)


def segments_unmapped(data: bytes, t: float, frame: int) -> list[Segment]:
    return _segments(data, t, frame, mmapped=False)
