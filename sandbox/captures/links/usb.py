"""What usbmon and USBPcap have in common: one data-carrying USB transfer as a ``Segment``.

``src`` is the device as ``"bus.device"``, ``sport`` the endpoint number, ``dst`` is ``"host"``;
``meta["direction"]`` is ``"out"`` for host-to-device data (what leaves the instrument PC) and
``"in"`` for device-to-host, plus the transfer type and endpoint address.
"""

from __future__ import annotations

from sandbox.model import Segment

TRANSFER_TYPES = ("isochronous", "interrupt", "control", "bulk")


def segment(bus: int, device: int, endpoint: int, transfer: int, data: bytes, t: float, frame: int,
            **meta: object) -> Segment:
    direction = "in" if endpoint & 0x80 else "out"
    kind = TRANSFER_TYPES[transfer] if transfer < 4 else str(transfer)
    return Segment(t, "usb", "usb", f"{bus}.{device}", endpoint & 0x0F, "host", 0, data, frame=frame,
                   meta={"direction": direction, "transfer": kind, "endpoint": endpoint, **meta})
