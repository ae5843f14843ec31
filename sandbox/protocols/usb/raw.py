"""Vendor, unknown and HID functions: the OUT stream goes to the correlator as raw chunks.

Nothing the rig cannot parse is dropped: every OUT byte on an endpoint of such a function (bulk,
interrupt, isochronous, class or vendor control data) is scanned as one byte stream per device
function; IN data is context only (what the device sends cannot leak the instrument's run).
"""

from __future__ import annotations

from typing import ClassVar

from sandbox.protocols.context import FlowContext
from sandbox.protocols.raw import RawParser
from sandbox.protocols.usb.descriptors import Interface
from sandbox.protocols.usb.function import Items, Transfer

HID = 0x03


class RawFunction:
    """The fallback: claims nothing, detects nothing, is what every undescribed endpoint gets."""

    name: ClassVar[str] = "raw"

    @staticmethod
    def claims(interface: Interface) -> bool:
        return False

    @staticmethod
    def detect(data: bytes) -> bool:
        return False

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.raw = RawParser(ctx)

    def transfer(self, tr: Transfer) -> Items:
        if tr.direction != "out" or not tr.data:
            return []
        return self.raw.feed("out", tr.data, tr.t)

    def idle(self, t: float) -> Items:
        return self.raw.idle(t)

    def close(self, t: float) -> Items:
        return self.raw.close(t)


class HidFunction(RawFunction):
    """Keyboards, mice, sensors: reports IN are context; output and feature reports OUT go raw."""

    name: ClassVar[str] = "hid"

    @staticmethod
    def claims(interface: Interface) -> bool:
        return interface.cls == HID
