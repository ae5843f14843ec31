"""Network packets another channel carries: a USB network adapter's Ethernet frames, the IP datagrams
of a PPP or SLIP link on a serial line.

They are a network path, so they go through the same link and IP decoding the capture readers use
(``sandbox.captures``) and back to the flow table as ``net`` Segments (``FlowContext.inject``): HTTP,
DNS and TLS inside them are parsed, matched and judged against the allow-list like any other traffic.
Their flows' chains start with the carrier's (``usb 1.7 > cdc-ecm > tcp > http/1.1 POST /upload``,
``serial /dev/ttyUSB0 > ppp > tcp > ...``) and their findings are the carrier's channel's (the data
left through USB or the serial port).  What the decoding could not examine is said frame by frame.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.captures.ip import IpDecoder
from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext

Items = list[Payload | Observation]


class _Decoder(IpDecoder):
    """The capture readers' IP decoding, noting what it could not examine packet by packet."""

    def __init__(self) -> None:
        super().__init__()
        self.blind: list[tuple[str, int]] = []

    def not_examined(self, what: str, size: int) -> None:
        super().not_examined(what, size)
        self.blind.append((what, size))


class CarriedPackets:
    """Packets found in one flow's bytes, dissected as if captured; ``label`` names the link in the
    chain (``"ppp"``), empty when the carrier's chain says it already (``cdc-ecm``)."""

    def __init__(self, ctx: FlowContext, label: str = "") -> None:
        self.ctx = ctx
        self.via = ctx.chain + ((label,) if label else ())
        self.ip = _Decoder()

    def packet(self, data: bytes, network: Callable[[bytes], tuple[int, int]], direction: str, t: float,
               frame: int, out: Items, cut_short: str = "packets cut short") -> None:
        """One packet; ``network`` reads its link header: what comes next and where (as the capture
        links do); ``cut_short`` is what to say when that header cannot be read."""
        ip = self.ip
        try:
            proto, off = network(data)
            seg = ip.decode(proto, data, off, t, frame)
        except (IndexError, ValueError):
            seg = None
            ip.not_examined(cut_short, len(data))
        if ip.blind:
            if direction == "out":
                for what, size in ip.blind:
                    out.append(self.ctx.blind(what, size, t))
            ip.blind.clear()
        for found in ([seg] if seg is not None else []) + ip.variants:
            found.meta = {**(found.meta or {}), "via": self.via, "carrier": self.ctx.channel, "carried_by": self.ctx.flow}
            self.ctx.inject(found)

    def close(self) -> None:
        self.ip.fragments.flush()
