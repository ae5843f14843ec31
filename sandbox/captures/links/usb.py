"""What usbmon and USBPcap have in common: one USB transfer (or one of its stages) as a ``Segment``.

``src`` is the device as ``"bus.device"`` (one flow per device: its class decoders need every
endpoint and the control pipe), ``sport`` 0, ``dst`` is ``"host"``; ``meta`` says:

- ``direction``: ``"out"`` for host-to-device data (what leaves the instrument PC), ``"in"`` for
  device-to-host; ``transfer`` (bulk, interrupt, control, isochronous) and ``endpoint`` (the address,
  bit 7 set for IN);
- ``urb`` ("S" submitted, "C" completed) and ``urb_id`` (the same for both events of one transfer);
- ``setup``: the 8-byte request of a control transfer, on the Segment that submits it (its data is
  the OUT data stage, if any);
- ``length``: bytes the transfer carried; ``uncaptured``: OUT bytes the capture did not keep (usbmon
  keeps at most a few hundred KiB of each transfer), counted as not examined by the capture.
"""

from __future__ import annotations

from sandbox.model import Segment

TRANSFER_TYPES = ("isochronous", "interrupt", "control", "bulk")
# What the capture reports for OUT data it never kept (``CaptureStats.unexamined``).
CUT = "USB OUT transfers cut by the capture (bytes never captured)"


def segment(bus: int, device: int, endpoint: int, transfer: int, data: bytes, t: float, frame: int,
            length: int | None = None, **meta: object) -> Segment:
    direction = "in" if endpoint & 0x80 else "out"
    kind = TRANSFER_TYPES[transfer] if transfer < 4 else str(transfer)
    length = len(data) if length is None else length
    extra: dict[str, object] = {"direction": direction, "transfer": kind, "endpoint": endpoint,
                                "length": length, **meta}
    if direction == "out" and length > len(data):
        extra["uncaptured"] = length - len(data)
    return Segment(t, "usb", "usb", f"{bus}.{device}", 0, "host", 0, data, frame=frame, meta=extra)
