"""CDC-ECM (Ethernet networking control model, CDC ECM 1.2) and what every USB network function shares.

A USB network adapter or a cellular modem is a network path: the Ethernet frames it carries go
through the same link and IP decoding the capture readers use (``sandbox.captures``) and are handed
back to the flow table as ``net`` Segments (``FlowContext.inject``), so HTTP, DNS and TLS inside it
are parsed, matched and judged against the allow-list like any other traffic; their chain starts
with the device (``usb 1.7 > cdc-ecm > tcp > http/1.1 POST /upload``).  Frames of a protocol the rig
cannot read are reported as not examined, never skipped; control requests carrying OUT data go raw.

ECM itself: every bulk transfer on the data interface is one Ethernet frame (USB ECM 1.2, 3.3.1).
"""

from __future__ import annotations

from typing import ClassVar

from sandbox.captures.links import ethernet
from sandbox.protocols.carried import CarriedPackets
from sandbox.protocols.context import FlowContext
from sandbox.protocols.raw import RawParser
from sandbox.protocols.usb.descriptors import Interface
from sandbox.protocols.usb.function import Items, Transfer

COMM, ECM = 0x02, 0x06
ETH_HEADER = 14
# Ethertypes an undescribed endpoint's first frame must carry to be taken for Ethernet: IPv4, ARP, IPv6.
PLAUSIBLE = frozenset((0x0800, 0x0806, 0x86DD))
# Largest frame accepted: a jumbo frame (9000 bytes of payload) with headers; more is not one frame.
MAX_FRAME = 9216


def plausible_frame(data: bytes) -> bool:
    """An Ethernet II frame carrying IPv4 (version and header length right), IPv6 or ARP."""
    if not ETH_HEADER + 20 <= len(data) <= MAX_FRAME:
        return False
    ethertype = int.from_bytes(data[12:14], "big")
    if ethertype not in PLAUSIBLE:
        return False
    version = data[14] >> 4
    return ethertype == 0x0806 or (ethertype == 0x0800 and data[14] == 0x45) or (ethertype == 0x86DD and version == 6)


class EthernetFunction:
    """Base of the USB network functions: frames in, ``net`` Segments out through the flow table."""

    name: ClassVar[str] = "ethernet"

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.carried = CarriedPackets(ctx)
        self.raw = RawParser(ctx)

    def frame(self, data: bytes, direction: str, t: float, frame_no: int, out: Items) -> None:
        """One Ethernet frame the function carried: dissect it as if it had been captured."""
        self.carried.packet(data, ethernet.network, direction, t, frame_no, out,
                            cut_short="Ethernet frames in USB cut short")

    def leftovers(self, tr: Transfer, used: list[tuple[int, int]], out: Items) -> None:
        """OUT bytes of a transfer that no header or frame accounts for (gaps between frames, trailers,
        frames past MAX_FRAME) go raw: nothing hides in a transfer's slack.  Zero padding is skipped."""
        if tr.direction != "out":
            return
        rest, at = bytearray(), 0
        for off, n in sorted(used):
            if off > at:
                rest += tr.data[at:off]
            at = max(at, off + n)
        rest += tr.data[at:]
        if rest.strip(b"\0"):
            out += self.raw.feed("out", bytes(rest), tr.t)

    def control(self, tr: Transfer) -> Items:
        """Class requests with OUT data: not frames; scanned raw (IN answers are context)."""
        if tr.direction == "out" and tr.data:
            return self.raw.feed("out", tr.data, tr.t)
        return []

    def idle(self, t: float) -> Items:
        return self.raw.idle(t)

    def close(self, t: float) -> Items:
        self.carried.close()
        return self.raw.close(t)


class CdcEcmFunction(EthernetFunction):
    name: ClassVar[str] = "cdc-ecm"

    @staticmethod
    def claims(interface: Interface) -> bool:
        return interface.cls == COMM and interface.subclass == ECM

    @staticmethod
    def detect(data: bytes) -> bool:
        return plausible_frame(data)

    def transfer(self, tr: Transfer) -> Items:
        out: Items = []
        if tr.kind == "control":
            return self.control(tr)
        if tr.kind == "bulk" and tr.data:
            self.frame(tr.data, tr.direction, tr.t, tr.frame, out)
        return out

