"""CDC-ACM (USB serial, CDC 1.2 PSTN): the bytes on the data interface are a serial line.

They go through the serial tap's own line parser (``SerialLineParser``): text and dumps are
scanned raw, XMODEM/YMODEM/ZMODEM transfers are decoded and the file goes on by name
(``usb 1.5 > cdc-acm > xmodem``).  Line coding requests (baud rate, framing) are noted on the flow.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from sandbox.protocols.context import FlowContext
from sandbox.protocols.serial import SerialLineParser
from sandbox.protocols.usb.descriptors import Interface
from sandbox.protocols.usb.function import Items, Transfer

COMM, ACM = 0x02, 0x02
RNDIS_PROTOCOL = 0xFF               # CDC ACM subclass with the vendor protocol: Microsoft RNDIS
SET_LINE_CODING = 0x20
LINE_CODING = struct.Struct("<IBBB")   # dwDTERate, bCharFormat, bParityType, bDataBits
PARITY = "NOEMS"
STOP_BITS = ("1", "1.5", "2")


class CdcAcmFunction:
    name: ClassVar[str] = "cdc-acm"

    @staticmethod
    def claims(interface: Interface) -> bool:
        return interface.cls == COMM and interface.subclass == ACM and interface.protocol != RNDIS_PROTOCOL

    @staticmethod
    def detect(data: bytes) -> bool:
        return False      # a serial stream has no signature of its own: undescribed, it goes raw

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.line = SerialLineParser(ctx)

    def transfer(self, tr: Transfer) -> Items:
        if tr.kind == "control":
            if tr.direction == "out" and tr.setup[1:2] == bytes([SET_LINE_CODING]) \
                    and len(tr.data) >= LINE_CODING.size:
                rate, stop, parity, bits = LINE_CODING.unpack_from(tr.data)
                settings = f"{rate} {bits}{PARITY[parity] if parity < 5 else '?'}" \
                           f"{STOP_BITS[stop] if stop < 3 else '?'}"
                self.ctx.info.meta["settings"] = settings
                return []
            return self.line.feed("out", tr.data, tr.t) if tr.direction == "out" and tr.data else []
        if tr.kind != "bulk" or not tr.data:
            return []          # the interrupt endpoint carries serial state notifications
        return self.line.feed(tr.direction, tr.data, tr.t)

    def idle(self, t: float) -> Items:
        return self.line.idle(t)

    def close(self, t: float) -> Items:
        return self.line.close(t)
