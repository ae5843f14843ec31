"""What the Dissector hands every app parser: the flow it parses and a way to make Payloads.

Kept tiny and dependency-free so a parser module imports it without importing the flow table.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sandbox.model import FlowInfo, Observation, Payload
from sandbox.safetext import safe_text, safe_tree

Endpoint = tuple[str, int]
# Outstanding claims per Dissector: one per announced data connection (an FTP client opens one
# per transfer); thousands outstanding means their connections never came, so the oldest go.
MAX_CLAIMS = 4096
CLAIMS = "claims"   # key of the claim table in ``shared``


class Claim(NamedTuple):
    """The next TCP flow to an endpoint is parsed by ``parser``, on the lane with ``chain``."""

    parser: type
    info: Any
    chain: tuple[str, ...]


def take_claim(shared: dict[str, Any], endpoints: tuple[Endpoint, ...]) -> Claim | None:
    """Remove and return the claim on the first of ``endpoints`` that has one (Dissector side)."""
    table = shared.get(CLAIMS)
    if not table:
        return None
    for endpoint in endpoints:
        found = table.pop(endpoint, None)
        if found is not None:
            return found
    return None


class ParseError(ValueError):
    """A parser met bytes its protocol forbids; the Dissector records it on the flow and goes raw."""


@dataclass(slots=True)
class FlowContext:
    """One flow as a parser sees it.

    ``chain`` is the transport prefix every Payload of this flow starts with: ``("tcp",)``,
    ``("udp",)`` or ``("tcp", "tls")`` for decrypted plaintext.  ``opener`` is the direction
    (``"out"``/``"in"``) of the side that opened the connection (sent SYN, or the first bytes
    when the handshake was not captured), i.e. the client for request/response protocols.
    ``shared`` is one dict shared by all flows of a Dissector (e.g. DNS zone counts).
    ``claimed`` is the ``info`` of the claim (see ``claim``) this flow's parser was chosen by.
    """

    flow: str
    info: FlowInfo
    shared: dict[str, Any]
    chain: tuple[str, ...] = ("tcp",)
    opener: str = "out"
    channel: str = "net"
    meta: dict[str, Any] = field(default_factory=dict)
    claimed: Any = None

    def claim(self, endpoint: Endpoint, parser: type, info: Any = None) -> None:
        """Announce that the next TCP flow to ``endpoint`` (ip, port) is ``parser``'s.

        For connections a protocol negotiates elsewhere (FTP PASV/PORT data connections): the
        Dissector looks the claim up when it meets a flow with that endpoint on either side,
        skips detection on the lane with this flow's ``chain`` and hands ``info`` to the new
        parser as ``ctx.claimed``.  A claim is used once; a newer claim on the endpoint wins.
        """
        ip, port = endpoint
        try:   # the text form the capture readers give (inet_ntop): "::1", not "0:0::1"
            ip = ipaddress.ip_address(ip).compressed
        except ValueError:
            pass
        endpoint = (ip, port)
        table = self.shared.get(CLAIMS)
        if table is None:
            table = self.shared[CLAIMS] = OrderedDict()
        table[endpoint] = Claim(parser, info, self.chain)
        table.move_to_end(endpoint)
        if len(table) > MAX_CLAIMS:
            table.popitem(last=False)

    def error(self, message: str) -> None:
        """Note a protocol error on this flow instead of raising (parsers are total); capped per flow."""
        self.info.add_error(message)

    @property
    def destination(self) -> str:
        """The far end's name (``info.destination``); a parser may set it (Host, SNI, HELO)."""
        return self.info.destination

    @destination.setter
    def destination(self, value: str | bytes) -> None:
        self.info.destination = safe_text(value)

    def name_destination(self, host: str) -> None:
        """Name the far end by the host the client asked for (HTTP Host, :authority), unless a
        parser already named it (TLS SNI): a name says more than a bare address."""
        if host and self.info.destination in ("", self.info.dst):
            name = host if host.startswith("[") else host.rsplit(":", 1)[0]
            self.info.destination = safe_text(name.strip().lower())

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
        """A Payload of this flow with ``chain = self.chain + label`` (labels made safe: they carry
        the traffic's own names into every report)."""
        labels = _labels(label)
        return Payload(data=data, chain=self.chain + labels, flow=self.flow, direction=direction,
                       t_first=t_first, t_last=t_first if t_last is None else t_last,
                       channel=self.channel, destination=self.destination,
                       stream_offset=stream_offset, meta=dict(meta) if meta else {})

    def observation(self, kind: str, severity: str, t_first: float, t_last: float | None = None,
                    bytes_out: int = 0, label: str | tuple[str, ...] = (),
                    detail: dict[str, Any] | None = None) -> Observation:
        """An Observation of this flow (chain = transport prefix + ``label``; labels and the
        detail's strings made safe)."""
        return Observation(kind=kind, severity=severity, flow=self.flow, channel=self.channel,
                           destination=self.destination, t_first=t_first,
                           t_last=t_first if t_last is None else t_last, bytes_out=bytes_out,
                           chain=self.chain + _labels(label), detail=safe_tree(detail) if detail else {})


def _labels(label: str | tuple[str, ...]) -> tuple[str, ...]:
    return (safe_text(label),) if isinstance(label, str) else tuple(safe_text(part) for part in label)
