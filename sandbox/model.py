"""The types every stage hands to the next.

capture readers -> ``Segment`` -> protocols -> ``Payload`` -> decoders -> ``View``
-> correlator -> ``Finding``.  Protocols may also emit ``Observation`` (evidence that
is not content: a DNS tunnel, an encrypted flow) and keep a ``FlowInfo`` per flow.
Live taps and offline readers produce the same ``Segment``s, so replay and live
give the same findings.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

from sandbox.safetext import SafeMeta, safe_text

CHANNELS = ("net", "usb", "serial")
# The bench itself (private, loopback, link-local and shared address space), where the instrument, the
# rig and the lab's resolver live: resolvers and proxies there are believed without a list entry, and
# of a flow between the bench and an address beyond it the bench's end is the instrument's.
BENCH_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))
SEVERITIES = ("info", "low", "medium", "high", "critical")
# TCP flag bits as on the wire.
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# Errors kept per flow: the first few say what went wrong; thousands would only cost memory, store
# and report space (a hostile flow can make one per packet).
MAX_FLOW_ERRORS = 20
# Characters kept of one error message: it says what went wrong, not the bytes that did.
MAX_ERROR_CHARS = 240
# How the errors past MAX_FLOW_ERRORS are counted where counts are kept (summaries, the report).
MORE_ERRORS = "more errors not kept"
# Observation kind of outbound bytes a parser could not look into: a ``not_examined`` row, no finding.
NOT_EXAMINED_KIND = "not-examined"
# Chain labels of the streams of values a sender draws at random, or a stack fills, by design: header
# fields (``protocols.heads``: a counter's steps, payload sizes and gaps too), a TLS hello's random, session
# id, key shares and PSK identities, an SSH key exchange cookie, WebSocket masking keys, DNS ids, QUIC
# frames' tokens and ids.  Read for run data like any bytes, but their randomness is no upload: never
# weighed as opaque volume.
DRAWN_AT_RANDOM = frozenset((
    "IPv4 identification", "IPv4 type of service", "IPv4 time to live", "IPv6 flow label", "IPv6 traffic class",
    "IPv6 hop limit", "TCP window", "TCP urgent pointer", "TCP timestamp", "TCP timestamp echo",
    "ICMP echo sequence", "option values (TCP, IP)", "TCP source port", "TCP initial sequence number", "UDP source port",
    "ICMP echo identifier", "ICMP echo identifier and sequence", "tls hello random", "tls hello session id",
    "tls hello key share", "tls hello psk identity", "ssh key exchange cookie", "websocket masking keys", "dns id",
    "frames besides streams", "payload size", "packet gap (ms)", "site gap (ms)", "counter steps"))


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(slots=True)
class Segment:
    """One transport unit off a capture or a live tap.

    A TCP segment (``seq``/``flags`` set), a UDP datagram, a USB transfer or a
    chunk read from a serial port.  ``src``/``dst`` are addresses (IP, USB
    ``bus.device``, serial port name); ports are TCP/UDP ports, USB endpoint
    numbers, or 0.  ``frame`` is the 1-based frame number in the capture so a
    finding can point at it.  ``head``: the header fields its sender chose (an IP packet's, as
    ``sandbox.captures.heads`` lays them out), read as streams of their own.
    """

    t: float
    channel: str
    transport: str
    src: str
    sport: int
    dst: str
    dport: int
    data: bytes
    seq: int = 0
    ack: int = 0
    flags: int = 0
    frame: int = 0
    meta: dict[str, Any] | None = None
    head: bytes = b""


@dataclass(slots=True)
class Payload:
    """Application bytes one side sent, with the layers that carried them.

    ``chain`` starts at the transport (``("tcp", "http/1.1 POST /upload")``).
    ``direction`` is ``"out"`` (from the instrument) or ``"in"``.
    ``stream_offset`` is where ``data[0]`` sat in that direction's byte stream,
    when that is meaningful, so evidence can point into the capture.  ``repeated``: how many of the
    first bytes the payload before it carried too (a raw stream's chunks overlap), counted once.
    """

    data: bytes
    chain: tuple[str, ...]
    flow: str
    direction: str
    t_first: float
    t_last: float
    channel: str = "net"
    destination: str = ""
    stream_offset: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    repeated: int = 0


@dataclass(slots=True)
class View:
    """One decoded reading of a payload: the bytes plus every layer peeled so far."""

    data: bytes
    chain: tuple[str, ...]


@dataclass(slots=True)
class Observation:
    """Evidence about traffic that is not run content (DNS tunnel, opaque upload, bad input)."""

    kind: str
    severity: str
    flow: str
    channel: str
    destination: str
    t_first: float
    t_last: float
    bytes_out: int = 0
    chain: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


class NotExamined(TypedDict):
    """Traffic the rig could not look into: it makes a verdict inconclusive, never clean.

    ``where`` names the capture, flow or tap; ``what`` says why (an unknown link type, a decoding
    limit on outbound data, a capture that dropped packets); ``packets``/``bytes`` say how much.
    """

    where: str
    what: str
    packets: int
    bytes: int


@dataclass(slots=True)
class FlowInfo:
    """What the dashboard and the report say about one flow.

    ``destination`` and the values of ``meta`` come from the wire (Host, SNI, HELO, file names):
    they are made safe as they are set (``sandbox.safetext``); parsers set ``destination`` through
    their ``FlowContext``.
    """

    flow: str
    channel: str
    transport: str
    src: str
    sport: int
    dst: str
    dport: int
    app: str = ""
    destination: str = ""
    t_first: float = 0.0
    t_last: float = 0.0
    packets: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    encrypted: bool = False
    decrypted: bool = False
    meta: dict[str, Any] = field(default_factory=SafeMeta)
    errors: list[str] = field(default_factory=list)
    # bytes of the instrument's TCP stream the capture never had (reassembly holes): not examined
    missed_out: int = 0
    errors_dropped: int = 0
    # an encrypted protocol recognised in the flow (QUIC, DTLS, SSH) and the outbound bytes of its
    # ciphertext: opaque even where the TLS around them was decrypted (SSH through a TLS tunnel, or in
    # WireGuard mode's feed, whose flows count no wire bytes)
    sealed: str = ""
    sealed_out: int = 0
    # outbound TLS application data (and records whose framing was lost): ciphertext unless a key
    # opened it; the handshake before it is read, so it is not weighed as opaque
    tls_out: int = 0
    # the instrument closed its side of the TCP stream: its FIN takes a sequence number, which a
    # receiving kernel counts among the bytes it took in (TCP_INFO's bytes_received)
    fin_out: bool = False
    # bytes of the instrument's TCP stream it sent again with other content (or not comparable with
    # the first copy): its receiver may have read those, so they are examined apart and reported
    resent_out: int = 0
    # outbound bytes the instrument marked urgent (TCP URG): its receiver takes them out of the stream
    # it reads, so the stream is also read without them, and reported
    urgent_out: int = 0
    # packets in the far end's name that the recording says arrived from the instrument's side: forged,
    # not believed as the far end's, reported
    forged_in: int = 0

    def add_error(self, message: str) -> None:
        """Note what went wrong on this flow: the one way to add an error, so every parser is capped.

        The first MAX_FLOW_ERRORS messages are kept; past them one last entry counts the rest.
        """
        errors = self.errors
        if len(errors) < MAX_FLOW_ERRORS:
            errors.append(message[:MAX_ERROR_CHARS])
            return
        self.errors_dropped += 1
        more = f"... and {self.errors_dropped} more error(s) on this flow"
        if len(errors) == MAX_FLOW_ERRORS:
            errors.append(more)
        else:
            errors[-1] = more

    def __post_init__(self) -> None:
        self.destination = safe_text(self.destination)
        if not isinstance(self.meta, SafeMeta):
            self.meta = SafeMeta(self.meta)


@dataclass(slots=True)
class FileMatch:
    path: str
    bytes_matched: int
    fraction: float


@dataclass(slots=True)
class Finding:
    """A suspected leak, in the shape of the report contract (DESIGN.md)."""

    id: str
    severity: str
    kind: str
    channel: str
    flow: str
    destination: str
    t_first: float
    t_last: float
    bytes_out: int = 0
    bytes_matched: int = 0
    run_id: str = ""
    samples: list[str] = field(default_factory=list)
    files: list[FileMatch] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    # The kinds of evidence behind this one leak, strongest first (``kind`` is the strongest that
    # sets the severity): e.g. ["run-bytes", "sequence", "identifier"] for a FASTQ upload.
    evidence_kinds: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
