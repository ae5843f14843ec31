"""What the Dissector hands every app parser: the flow it parses and a way to make Payloads.

Kept tiny and dependency-free so a parser module imports it without importing the flow table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.model import FlowInfo, Observation, Payload


class ParseError(ValueError):
    """A parser met bytes its protocol forbids; the Dissector records it on the flow and goes raw."""


@dataclass(slots=True)
class FlowContext:
    """One flow as a parser sees it.

    ``chain`` is the transport prefix every Payload of this flow starts with: ``("tcp",)``,
    ``("udp",)`` or ``("tcp", "tls")`` for decrypted plaintext.  ``opener`` is the direction
    (``"out"``/``"in"``) of the side that opened the connection (sent SYN, or the first bytes
    when the handshake was not captured), i.e. the client for request/response protocols.
    ``shared`` is one dict shared by all flows of a Dissector (e.g. FTP data-connection links).
    """

    flow: str
    info: FlowInfo
    shared: dict[str, Any]
    chain: tuple[str, ...] = ("tcp",)
    opener: str = "out"
    channel: str = "net"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def destination(self) -> str:
        """The far end's name (``info.destination``); a parser may set it (Host, SNI, HELO)."""
        return self.info.destination

    @destination.setter
    def destination(self, value: str) -> None:
        self.info.destination = value

    @property
    def client(self) -> str:
        """Direction of the client (the connection opener)."""
        return self.opener

    @property
    def server(self) -> str:
        return "in" if self.opener == "out" else "out"

    def payload(self, data: bytes, label: str | tuple[str, ...], direction: str, t_first: float,
                t_last: float | None = None, stream_offset: int | None = None,
                meta: dict[str, Any] | None = None) -> Payload:
        """A Payload of this flow with ``chain = self.chain + label``."""
        labels = (label,) if isinstance(label, str) else tuple(label)
        return Payload(data=data, chain=self.chain + labels, flow=self.flow, direction=direction,
                       t_first=t_first, t_last=t_first if t_last is None else t_last,
                       channel=self.channel, destination=self.destination,
                       stream_offset=stream_offset, meta=dict(meta) if meta else {})

    def observation(self, kind: str, severity: str, t_first: float, t_last: float | None = None,
                    bytes_out: int = 0, label: str | tuple[str, ...] = (),
                    detail: dict[str, Any] | None = None) -> Observation:
        """An Observation of this flow (chain = transport prefix + ``label``)."""
        labels = (label,) if isinstance(label, str) else tuple(label)
        return Observation(kind=kind, severity=severity, flow=self.flow, channel=self.channel,
                           destination=self.destination, t_first=t_first,
                           t_last=t_first if t_last is None else t_last, bytes_out=bytes_out,
                           chain=self.chain + labels, detail=dict(detail) if detail else {})
