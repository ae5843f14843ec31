"""What the Dissector hands every app parser (the flow it parses, a way to make Payloads and
Observations) and what a parser must be (``StreamParser``, ``DatagramParser``).

Kept small, and free of the flow table and of other parsers, so a parser module imports it
without importing them.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol

from sandbox.decode.limits import DECODE_LIMIT, DECODE_LIMIT_SEVERITY, LimitHit
from sandbox.model import NOT_EXAMINED_KIND, FlowInfo, Observation, Payload
from sandbox.safetext import safe_text, safe_tree

Endpoint = tuple[str, int]
MAX_LABEL_PATH = 200  # chain labels are for people; the full URL is in the HTTP "url" Payload
# Outstanding claims per Dissector: one per announced data connection (an FTP client opens one
# per transfer); thousands outstanding means their connections never came, so the oldest go.
MAX_CLAIMS = 4096
CLAIMS = "claims"   # key of the claim table in ``shared``
INJECTED = "injected"   # key in ``shared`` of Segments parsers found inside their own bytes
# Names one flow's record keeps of those its bytes claim (SNI, Host, :authority) and of those it asked
# a proxy for; past this one more is noted (``names_more``) and the flow is allowed by address only.
MAX_NAMES = 16


DATAGRAM_CLAIMS = "datagram claims"   # key of the table of claims on UDP flows in ``shared``


class Claim(NamedTuple):
    """The next TCP flow to an endpoint is parsed by ``parser``, on the lane with ``chain``; a claim on
    a UDP flow also says the claimed endpoint's ``side`` ("out": the instrument's)."""

    parser: type
    info: Any
    chain: tuple[str, ...]
    side: str = ""


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


# Bytes of command lines handed on at a time (``CommandLines``).
COMMANDS_PIECE = 64 * 1024


class Held:
    """Bytes a parser holds back to hand on as one payload (when they fill a chunk, or the flow goes
    quiet: TLS sent in the clear, what QUIC Initials carry besides the hello), and when the first came."""

    __slots__ = ("data", "since")

    def __init__(self) -> None:
        self.data = bytearray()
        self.since: float | None = None

    def add(self, data: bytes | bytearray, t: float) -> int:
        """Hold ``data`` (come at ``t``); how many bytes are held now."""
        if self.since is None:
            self.since = t
        self.data += data
        return len(self.data)

    def hand_on(self, ctx: FlowContext, label: tuple[str, ...], direction: str, t_last: float,
                out: list) -> None:
        """What is held, as one Payload of ``ctx`` added to ``out`` (nothing when nothing is held)."""
        if self.data:
            out.append(ctx.payload(bytes(self.data), label, direction,
                                   self.since if self.since is not None else t_last, t_last))
            self.data.clear()
            self.since = None


class CommandLines:
    """A client's command lines as it sent them (``<name> commands``), and their arguments a line each
    (``<name> arguments``: base64 cut a command at a time joins into one run there), two streams handed
    on by COMMANDS_PIECE, at a hole, when the flow goes quiet and at its end.  Every line: a verb the
    parser does not know, a password's (the instrument's to fill), bytes that are no command."""

    __slots__ = ("ctx", "labels", "commands", "arguments")

    def __init__(self, ctx: FlowContext, name: str) -> None:
        self.ctx = ctx
        self.labels = (f"{name} commands",), (f"{name} arguments",)
        self.commands, self.arguments = Held(), Held()

    def add(self, raw: bytes | bytearray, t: float, out: list) -> None:
        """A line as sent (its line break too), or a piece of one."""
        self.arguments.add(bytes(raw).rstrip(b"\r\n").partition(b" ")[2] + b"\n", t)
        if self.commands.add(raw, t) >= COMMANDS_PIECE:
            self.hand_on(t, out)

    def hand_on(self, t: float, out: list) -> None:
        self.commands.hand_on(self.ctx, self.labels[0], self.ctx.client, t, out)
        self.arguments.hand_on(self.ctx, self.labels[1], self.ctx.client, t, out)


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
        self._claim(CLAIMS, endpoint, Claim(parser, info, self.chain))

    def claim_datagrams(self, endpoint: Endpoint, side: str, parser: type, info: Any = None) -> None:
        """Announce that the next UDP flow with ``endpoint`` on one side is ``parser``'s, that endpoint
        on ``side`` ("out": the instrument's) whichever end sends first.

        For transfers a request starts and the server answers from a port of its own (TFTP): the
        answer opens the transfer's flow, and the first sender is no longer the client.
        """
        self._claim(DATAGRAM_CLAIMS, endpoint, Claim(parser, info, self.chain, side))

    def _claim(self, key: str, endpoint: Endpoint, claim: Claim) -> None:
        ip, port = endpoint
        try:   # the text form the capture readers give (inet_ntop): "::1", not "0:0::1"
            ip = ipaddress.ip_address(ip).compressed
        except ValueError:
            pass
        endpoint = (ip, port)
        table = self.shared.get(key)
        if table is None:
            table = self.shared[key] = OrderedDict()
        table[endpoint] = claim
        table.move_to_end(endpoint)
        if len(table) > MAX_CLAIMS:
            table.popitem(last=False)

    def inject(self, segment: Any) -> None:
        """Hand the flow table a Segment found inside this flow's bytes (an Ethernet frame a USB
        network adapter carried): it is dissected as if captured, right after the current one."""
        queue = self.shared.get(INJECTED)
        if queue is None:
            queue = self.shared[INJECTED] = deque()
        queue.append(segment)

    def blind(self, what: str, size: int, t: float) -> Observation:
        """Outbound bytes of this flow the rig could not look into: a ``not_examined`` row of the
        report (the verdict is then inconclusive, never clean), not a finding."""
        return self.observation(NOT_EXAMINED_KIND, "info", t, bytes_out=size, detail={"what": what})

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

    def named(self, host: str, proxied: bool = False) -> None:
        """A name this flow's bytes claim to go to (TLS SNI, HTTP Host, :authority), kept in
        ``meta["names"]``; ``proxied``: one a proxy at the flow's far end was asked to connect to
        (CONNECT, an absolute-form request, SOCKS), kept in ``meta["proxied"]``.  The instrument
        writes both: the allow-list believes a name only where a DNS answer or a proxy it trusts
        vouches for the address (``AllowList.allows_flow``)."""
        name = safe_text(host).strip().lower()
        if not name:
            return
        meta = self.info.meta
        names = meta.setdefault("proxied" if proxied else "names", [])
        if name in names:
            return
        if len(names) >= MAX_NAMES:
            meta["names_more"] = True
            return
        names.append(name)

    @property
    def client(self) -> str:
        """Direction of the client (the connection opener)."""
        return self.opener

    @property
    def server(self) -> str:
        return "in" if self.opener == "out" else "out"

    def payload(self, data: bytes, label: str | tuple[str, ...], direction: str, t_first: float,
                t_last: float | None = None, stream_offset: int | None = None,
                meta: dict[str, Any] | None = None, repeated: int = 0) -> Payload:
        """A Payload of this flow with ``chain = self.chain + label`` (labels made safe: they carry
        the traffic's own names into every report)."""
        labels = _labels(label)
        return Payload(data=data, chain=self.chain + labels, flow=self.flow, direction=direction,
                       t_first=t_first, t_last=t_first if t_last is None else t_last,
                       channel=self.channel, destination=self.destination,
                       stream_offset=stream_offset, meta=dict(meta) if meta else {}, repeated=repeated)

    def observation(self, kind: str, severity: str, t_first: float, t_last: float | None = None,
                    bytes_out: int = 0, label: str | tuple[str, ...] = (),
                    detail: dict[str, Any] | None = None) -> Observation:
        """An Observation of this flow (chain = transport prefix + ``label``; labels and the
        detail's strings made safe)."""
        return Observation(kind=kind, severity=severity, flow=self.flow, channel=self.channel,
                           destination=self.destination, t_first=t_first,
                           t_last=t_first if t_last is None else t_last, bytes_out=bytes_out,
                           chain=self.chain + _labels(label), detail=safe_tree(detail) if detail else {})

    def limit_observation(self, hit: LimitHit, t_first: float, t_last: float | None = None,
                          label: tuple[str, ...] = ()) -> Observation:
        """The decode-limit Observation of a limit that stopped a content coding of this flow's
        outbound data (``hit.chain`` is relative to ``label``, which is relative to the flow)."""
        labels = label + hit.chain
        where = LimitHit(hit.limit, hit.decoder, self.chain + labels, hit.bytes_left).text
        return self.observation(DECODE_LIMIT, DECODE_LIMIT_SEVERITY, t_first, t_last, bytes_out=hit.bytes_left,
                                label=labels, detail={**hit.detail(), "where": where})


Items = list[Payload | Observation]


class StreamParser(Protocol):
    """A TCP (or decrypted TLS) app parser, one per flow lane, fed both directions in order.

    ``detect`` looks at the first bytes each way (``first_out`` from the instrument, ``sport`` its
    port; asked again as bytes arrive, up to ``flows.DETECT_BYTES``).  A parser may also declare a
    ``ports`` ClassVar (a hint used when no parser's ``detect`` said yes) and a ``begins(data)``
    static method (does a message of its protocol start with this chunk? late detection on a lane
    that went raw).  ``feed`` gets the bytes of one direction, ``gap`` a hole in it (bytes the capture
    lost), ``close`` the end of the flow; a parser that buffers may have ``idle(t)``, called when the
    flow went quiet (the flow table's idle flush), to hand over what it holds; each returns the
    Payloads and Observations it made.  A parser that raises gets an error on its FlowInfo and the
    raw parser takes over the rest of that flow.
    """

    name: ClassVar[str]

    def __init__(self, ctx: FlowContext) -> None: ...

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool: ...

    def feed(self, direction: str, data: bytes, t: float) -> Items: ...

    def gap(self, direction: str, size: int) -> Items: ...

    def close(self, t: float) -> Items: ...


class DatagramParser(Protocol):
    """A UDP app parser, one per flow: ``detect`` sees the first datagram, ``feed`` each one.

    With ``any_client_port = True`` and ``from_server(data) -> bool`` (does the first datagram come
    from the server?) its flow takes every datagram between the client's address, from any port, and
    the server endpoint (DNS: RFC 5452).  An ``idle(t)`` hands over what it holds when the flow went
    quiet, as for stream parsers.
    """

    name: ClassVar[str]

    def __init__(self, ctx: FlowContext) -> None: ...

    @staticmethod
    def detect(data: bytes, sport: int, dport: int) -> bool: ...

    def feed(self, direction: str, data: bytes, t: float) -> Items: ...

    def close(self, t: float) -> Items: ...


class ChannelParser(Protocol):
    """The parser of a whole USB device or serial line (``registry.CHANNEL_PARSERS``, by channel).

    It is a stream parser of the flow's two directions (``detect``, ``feed``, ``close``, and an
    ``idle(t)`` since a line or a device may go quiet for long); one that declares
    ``feed_segment(direction, segment)`` gets whole Segments instead of their bytes (a USB transfer
    says its endpoint, type, length and control request in ``segment.meta``).
    """

    name: ClassVar[str]

    def __init__(self, ctx: FlowContext) -> None: ...

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool: ...

    def feed(self, direction: str, data: bytes, t: float) -> Items: ...

    def idle(self, t: float) -> Items: ...

    def close(self, t: float) -> Items: ...


def _labels(label: str | tuple[str, ...]) -> tuple[str, ...]:
    return (safe_text(label),) if isinstance(label, str) else tuple(safe_text(part) for part in label)
