"""LINKTYPE_USB_LINUX_MMAPPED (220) and LINKTYPE_USB_LINUX (189): Linux usbmon binary headers.

Header (host byte order; captures are little-endian in practice), per Documentation/usb/usbmon:
id u64, type u8 ('S' submit / 'C' complete / 'E' error), transfer u8, endpoint u8, device u8,
bus u16, flag_setup s8, flag_data s8, ts_sec s64, ts_usec s32, status s32, length u32,
len_cap u32, setup 8 bytes; the mmapped variant adds interval, start_frame, xfer_flags, ndesc
(64 bytes in all) and, for isochronous transfers, ``ndesc`` 16-byte descriptors before the data.

OUT data travels in the submission ('S'), IN data in the completion ('C'); a control transfer's
request is in its submission's ``setup`` field.  ``length`` is what the transfer carried, ``len_cap``
what usbmon kept of it.
"""

from __future__ import annotations

import struct

from sandbox.captures.links.usb import segment
from sandbox.model import Segment

HEADER = struct.Struct("<QBBBBHbbqiiII8s")   # the 48 bytes both variants share
MMAPPED_EXTRA = struct.Struct("<iiII")         # interval, start_frame, xfer_flags, ndesc
ISO_DESC = 16
CONTROL, SUBMIT = 2, ord("S")


def _segments(data: bytes, t: float, frame: int, mmapped: bool) -> list[Segment]:
    (urb_id, urb, transfer, endpoint, device, bus, flag_setup, _, _, _, status, length, caplen,
     setup) = HEADER.unpack_from(data)
    off = 48
    if mmapped:
        ndesc = MMAPPED_EXTRA.unpack_from(data, 48)[3]
        off = 64 + (ndesc * ISO_DESC if transfer == 0 else 0)
    payload = data[off:off + caplen]
    meta: dict[str, object] = {"urb": chr(urb), "urb_id": urb_id, "status": status}
    if transfer == CONTROL and urb == SUBMIT and flag_setup == 0:
        # the request; IN data comes with the completion, OUT data (if any) is in this record
        out_data = payload if not endpoint & 0x80 else b""
        return [segment(bus, device, endpoint & 0x7F, transfer, out_data, t, frame,
                        length=length if out_data or not endpoint & 0x80 else 0, setup=setup, **meta)]
    carries = (urb == SUBMIT) != bool(endpoint & 0x80)    # OUT data on submit, IN data on completion
    if not payload and not (carries and length):
        return []
    return [segment(bus, device, endpoint, transfer, payload, t, frame, length=length if carries else len(payload),
                    **meta)]


def segments(data: bytes, t: float, frame: int) -> list[Segment]:
    return _segments(data, t, frame, mmapped=True)


def segments_unmapped(data: bytes, t: float, frame: int) -> list[Segment]:
    return _segments(data, t, frame, mmapped=False)
