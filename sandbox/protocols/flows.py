"""The flow table: Segments in, Payloads and Observations out (contract 2).

Per flow it decides the direction (the instrument side is "out"), reassembles TCP, picks an app
parser from the first bytes each way (a claim another flow's parser made on one of its endpoints,
e.g. an FTP data connection, then registered ``detect``, then port hints, else raw),
keeps the ``FlowInfo`` books, and turns a parser's exception into an error on that flow (the rest
of that flow goes to the raw parser; the run goes on).  Decrypted TLS plaintext (Segments with
``transport == "tls"``) feeds a second parser lane on the TCP flow it names.  USB and serial
Segments carry ``meta["direction"]``: ``src`` is the far end (the USB device, the host's serial
port), ``dst`` the instrument side, which is out; their bytes go to the parsers registered for
their channel (``CHANNEL_PARSERS``, chosen like stream parsers), else raw; a channel parser with
``feed_segment`` gets whole Segments (a USB transfer's endpoint, type, request).  Serial line events
(``meta["line"]``: unplug, replug, break) are kept in the flow's meta.  A parser that finds Segments
inside its own bytes (Ethernet frames of a USB network adapter) hands them back (``FlowContext.inject``):
they are dissected after the Segment that carried them, on flows whose chain starts with the
carrier's (``meta["via"]``), and ``inner`` lists the flows they touched.

Memory is bounded: active flows are LRU-ordered and evicted when idle or when there are too many;
an ended flow keeps only its ``FlowInfo``, and past a cap only a share in its destination's summary
(``records.FlowRecords``).  A datagram parser with ``any_client_port`` (DNS) gets one flow per client
address and server endpoint: a resolver client sends each query from a new random port (RFC 5452),
and a flow, a parser and a record per query would make a query flood cost a flow each.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.model import (
    ACK,
    BENCH_NETWORKS,
    FIN,
    RST,
    SYN,
    URG,
    FlowInfo,
    NotExamined,
    Observation,
    Payload,
    Segment,
)
from sandbox.protocols import registry
from sandbox.protocols.blindspots import BlindSpot, BlindSpots
from sandbox.protocols.context import DATAGRAM_CLAIMS, INJECTED, Claim, FlowContext, ParseError, take_claim
from sandbox.protocols.follow import JOINED_WAIT, flush_joined
from sandbox.protocols.parts import PARTS_WAIT, flush_uploads
from sandbox.protocols.raw import RawParser
from sandbox.protocols.records import FlowRecords
from sandbox.protocols.resolved import SHARED_KEY as RESOLVED
from sandbox.protocols.serial.events import note_line_event
from sandbox.protocols.socks import socks_target
from sandbox.protocols.tcp import CLOSED_LINGER, MAX_KEPT_TOTAL, Chunk, Connection, KeptTotal, Resent
from sandbox.protocols.tls_keys import RECORDS_LANE
from sandbox.safetext import safe_text

__all__ = ["Dissector", "FlowContext", "ParseError"]

# First bytes per direction that detection waits for before giving up on content and using ports:
# every signature we detect (HTTP request line, TLS record header, SMTP/FTP greeting, HTTP/2
# preface) sits in the first few hundred bytes.
DETECT_BYTES = 4096
# Bytes per direction of a lane that fell back to raw in which a protocol may still begin (found by
# content at a segment's start, as Wireshark's heuristic dissectors find it): a SOCKS or CONNECT
# preamble, a proprietary login, is at most a few KiB; later bytes are the data itself.
LATE_DETECT_BYTES = 64 * 1024
# Capture-time seconds without a packet after which a flow is closed (Linux conntrack keeps an
# established TCP flow 5 days, but instruments reconnect; 5 minutes keeps live memory small).
IDLE_TIMEOUT_TCP = 300.0
# UDP has no close: 60 s is what conntrack and most firewalls use for an unreplied/assured pair.
IDLE_TIMEOUT_UDP = 60.0
# Active flows held with parser and reassembly state; beyond this the least recently used is closed.
MAX_ACTIVE_FLOWS = 50_000
# How often (capture seconds) the idle sweep runs; the sweep only looks at the LRU head.
SWEEP_INTERVAL = 1.0
# Capture-time seconds a flow may sit idle with bytes held back (an undecided lane waiting for the
# other side to speak, a raw chunk not yet full) before they go out anyway: a live finding must land
# within a second of the leaking bytes even when the instrument then goes quiet.  Judged on capture
# time before each packet and on ``tick``, so a replay cuts exactly where the live session did.
IDLE_FLUSH = 0.3
# ...but an undecided lane holding fewer bytes than this keeps waiting for the other side: below
# any evidence the correlator can use (a keep-alive byte before a request must not make it raw).
IDLE_DECIDE_MIN = 16
MISSED_OUT = "bytes missing from the instrument's TCP stream (reassembly holes): never examined"
CONTESTED = ("bytes of a TCP connection both ends opened (each sent a SYN without ACK): which end is the "
             "instrument cannot be told, and these, from the end taken for the far one, were not examined as "
             "the instrument's (give --instrument to say which end it is)")
URGENT_OUT = ("bytes the instrument marked urgent in its TCP stream (URG): a receiver takes them out of what it "
              "reads, so it may have read other bytes than the rig; the stream was read again without them")
# Urgent bytes a flow remembers until the stream reaches them (each URG segment names one).
MAX_URGENT_MARKS = 65536
FORGED_IN = ("packets in the far end's name that arrived from the instrument's side of the rig (forged): not "
             "believed as the far end's (its acknowledgements, resets, answers), their bytes read as the instrument's")
RESENT_OUT = ("bytes the instrument sent again for a place in its TCP stream with other content, or that could "
              "not be compared with what it sent there first: its receiver may have read them instead; "
              "examined only on their own")

Items = list[Payload | Observation]
_ENDPOINT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)$")   # ADDR:PORT, [V6]:PORT
_LINK = re.compile(r"^link:(\d+)$")     # link:IFINDEX, the recording's interface on the instrument's side
Endpoint = tuple[str, int]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class InstrumentSide:
    """Which end of a flow is the instrument's (``--instrument``): ``networks`` (CIDR; every address
    when only exceptions are given) but ``never`` ("!CIDR", e.g. the rig's own address there) and
    ``never_ends`` ("!ADDR:PORT", "![V6]:PORT", e.g. the rig's proxy on loopback); and ``links``
    ("link:IFINDEX"): what the recording says arrived on that interface came from the instrument,
    whatever address it claims."""

    networks: list[IPNetwork]
    never: list[IPNetwork]
    never_ends: frozenset[Endpoint]
    links: frozenset[int]


def instrument_side(entries: Sequence[str]) -> InstrumentSide:
    """Parse ``--instrument`` entries; ValueError names the first one that is none of the forms."""
    networks, never, ends, links = [], [], set(), set()
    for entry in entries:
        text = entry.strip()
        try:
            if m := _LINK.match(text):
                links.add(int(m[1]))
            elif text.startswith("!") and (m := _ENDPOINT.match(text[1:])):
                ends.add((str(ipaddress.ip_address(m[1].strip("[]"))), int(m[2])))
            elif text.startswith("!"):
                never.append(ipaddress.ip_network(text[1:], strict=False))
            else:
                networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"--instrument {safe_text(entry)!r}: not a CIDR, !CIDR, !ADDR:PORT or "
                             "link:IFINDEX") from None
    if (never or ends) and not networks:    # only what the instrument is not: it is every other address
        networks = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
    return InstrumentSide(networks, never, frozenset(ends), frozenset(links))


def _member(cache: dict[str, bool], ip: str, test: Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], bool]
            ) -> bool:
    """``test`` of the address ``ip`` (False for no address), kept in ``cache`` (cleared when it grows
    past MAX_ACTIVE_FLOWS: a flood of addresses must not grow it for ever)."""
    hit = cache.get(ip)
    if hit is None:
        try:
            hit = test(ipaddress.ip_address(ip))
        except ValueError:
            hit = False
        if len(cache) > MAX_ACTIVE_FLOWS:
            cache.clear()
        cache[ip] = hit
    return hit


def _on_bench(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(addr in net for net in BENCH_NETWORKS)


def _fmt(ip: str, port: int | str) -> str:
    if ip == "host":    # the USB/serial host side has no port
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class _Lane:
    """One parser over one byte stream pair (the TCP stream, or its decrypted TLS plaintext)."""

    __slots__ = ("ctx", "parser", "first", "offsets", "decided", "pending", "kind", "late")

    def __init__(self, ctx: FlowContext, kind: str) -> None:
        self.ctx = ctx
        self.kind = kind                   # "stream", "datagram" or "channel" (USB/serial bytes)
        self.parser: Any = None
        self.first = {"out": b"", "in": b""}
        self.offsets = {"out": 0, "in": 0}
        self.decided = False
        self.pending: list[tuple[str, str, Any, float]] = []   # (op, direction, data|size, t)
        self.late: set[str] = set()   # raw for want of a match: directions a protocol may still begin in


class _Flow:
    __slots__ = ("info", "key", "out", "inn", "conn", "lanes", "last", "closed", "transport", "opener", "claim", "urgent",
                 "server", "via", "channel")

    def __init__(self, info: FlowInfo, key: tuple, out: Endpoint, inn: Endpoint, transport: str,
                 kept: KeptTotal | None = None) -> None:
        self.info = info
        self.key = key                     # its key in the active table
        self.out = out
        self.inn = inn
        self.transport = transport
        self.conn = Connection(kept) if transport == "tcp" else None
        self.lanes: dict[str, _Lane] = {}
        self.urgent: list[int] | None = None   # out stream offsets of urgent bytes not reached yet
        self.last = info.t_first
        self.closed = False
        self.opener = "out"
        self.claim: Claim | None = None
        self.server: Endpoint | None = None   # set when the flow takes any client port (see _serve)
        self.via: tuple[str, ...] = ()        # chain of the carrier its Segments were found in
        self.channel = info.channel           # how its Segments are dissected (``info.channel``: the carrier's)

    def take_claim(self, shared: dict[str, Any]) -> None:
        """Pick up a claim on this flow's listening (non-opener) endpoint, else on the other."""
        if self.claim is None and shared:
            ends = (self.inn, self.out) if self.opener == "out" else (self.out, self.inn)
            self.claim = take_claim(shared, ends)


class Dissector:
    """Flow table over Segments of any channel; see the module docstring.

    ``flows`` holds the FlowInfo of every active flow, of ended flows while there is room, and
    the summaries of the rest (see ``records``); after ``feed`` returns, ``last`` is the FlowInfo of
    the flow that segment belonged to and ``last_direction`` its direction ("out"/"in"), so a caller
    can count per-segment traffic without scanning the flows.  ``last`` is None if the segment made
    no flow, or if its flow has carried no payload yet while the books are crowded (a flood of
    connection attempts: nothing per flow for the caller to count or show until it carries data).
    """

    def __init__(self, instrument: list[str] | None = None, stream_parsers: list[type] | None = None,
                 datagram_parsers: list[type] | None = None,
                 channel_parsers: dict[str, list[type]] | None = None) -> None:
        side = instrument_side(instrument or [])
        self.instrument, self.not_instrument = side.networks, side.never
        self.not_instrument_ends, self.links = side.never_ends, side.links
        self.links_seen: set[int] = set()    # the links named that packets of the recording were seen on
        self.stream_parsers = list(registry.STREAM_PARSERS if stream_parsers is None else stream_parsers)
        self.datagram_parsers = list(registry.DATAGRAM_PARSERS if datagram_parsers is None
                                     else datagram_parsers)
        # stream parsers that can say a message of theirs begins at a chunk's start (late detection)
        self._begins = [(cls, cls.begins) for cls in self.stream_parsers if hasattr(cls, "begins")]
        self.records = FlowRecords()
        self.flows: dict[str, FlowInfo] = self.records.flows
        self.channel_parsers = {channel: list(parsers) for channel, parsers in
                                (registry.CHANNEL_PARSERS if channel_parsers is None else channel_parsers).items()}
        self.shared: dict[str, Any] = {}
        # flows whose outbound traffic was not examined as it was read, by kind (``not_examined``):
        # holes the capture never filled, bytes sent again with other content, urgent bytes, the far
        # end's bytes of a flow both ends opened, packets in the far end's name from the instrument
        self.blind = BlindSpots([BlindSpot(MISSED_OUT, "missed_out"), BlindSpot(RESENT_OUT, "resent_out"),
                                 BlindSpot(URGENT_OUT, "urgent_out"), BlindSpot(CONTESTED, "bytes_in"),
                                 BlindSpot(FORGED_IN, "forged_in", "packets")])
        self.kept = KeptTotal()      # outbound bytes the TCP streams keep to check what is sent again
        self._active: OrderedDict[tuple, _Flow] = OrderedDict()
        self._served: dict[tuple, _Flow] = {}       # (channel, transport, client ip, server ip, port)
        self._reused: dict[str, int] = {}           # flow id -> last "#n" given to a reuse of it
        # flow id -> (its last byte's time, the clock) at its last idle flush: what it held back
        # went to the analysis then (``settled``); the flows flushed last, as many as may be active
        self._settled: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._now = 0.0
        self._next_sweep = 0.0
        # flows that got bytes since their last idle flush, least recently active first
        self._dirty: OrderedDict[tuple, _Flow] = OrderedDict()
        self._local_cache: dict[str, bool] = {}
        self._bench_cache: dict[str, bool] = {}
        self.last: FlowInfo | None = None
        self.last_direction = ""
        # the flow of the last segment, crowded books or not: its header fields are read whatever it
        # carried (a SYN a word, from a new port each: past the books' room for empty flows, unread)
        self.heard: FlowInfo | None = None
        self.inner: list[FlowInfo] = []     # flows the Segments found inside the last one touched

    # ---- public -------------------------------------------------------------------------------

    def feed(self, seg: Segment) -> Items:
        out: Items = []
        self.last = None
        self.last_direction = ""
        if seg.t > self._now:
            self._now = seg.t
        dirty = self._dirty
        if dirty and next(iter(dirty.values())).last <= self._now - IDLE_FLUSH:
            self._idle_flush(out)
        if self._now >= self._next_sweep:
            self._sweep(out)
        self._route(seg, out)
        if self.inner:
            self.inner = []
        if INJECTED in self.shared and self.shared[INJECTED]:
            self._inner(out)
        last = self.heard = self.last
        if last is not None and not (last.bytes_out or last.bytes_in) and self.records.crowded:
            self.last = None
        return out

    def _route(self, seg: Segment, out: Items) -> None:
        if self.links and seg.meta is not None:
            where = seg.meta.get("arrived", seg.meta.get("left"))
            if where in self.links:
                self.links_seen.add(where)
        transport = seg.transport
        if transport == "tcp":
            self._tcp(seg, out)
        elif transport == "tls":
            self._plaintext(seg, out)
        else:
            self._datagram(seg, out)

    def _inner(self, out: Items) -> None:
        """Dissect the Segments parsers found inside the one just fed (``FlowContext.inject``)."""
        queue = self.shared[INJECTED]
        last, direction = self.last, self.last_direction
        while queue:
            self.last = None
            self._route(queue.popleft(), out)
            if self.last is not None and (not self.inner or self.inner[-1] is not self.last):
                self.inner.append(self.last)
        self.last, self.last_direction = last, direction

    def current(self, fid: str) -> FlowInfo | None:
        """The flow on the books under a 4-tuple's name now: its latest reuse (``fid #n``), else ``fid``."""
        n = self._reused.get(fid)
        return (self.flows.get(f"{fid} #{n}") if n is not None else None) or self.flows.get(fid)

    def settled(self, fid: str) -> float | None:
        """The clock at which the flow ``fid`` (its latest reuse) last handed the analysis what its
        parsers held back (an idle flush), if it has had no byte since; else None."""
        info = self.current(fid)
        got = self._settled.get(info.flow) if info is not None else None
        return got[1] if got is not None and info.t_last <= got[0] else None

    def tick(self, now: float) -> Items:
        """Advance the clock to capture time ``now`` with no packet: flows idle long enough hand
        over what they held back, idle flows close.  A live tap calls it while the instrument is
        quiet; ``feed`` does the same before each packet, so replay and live agree."""
        out: Items = []
        if now > self._now:
            self._now = now
        self._idle_flush(out)
        if self._now >= self._next_sweep:
            self._sweep(out)
        if self.shared.get(INJECTED):
            self.inner = []
            self._inner(out)
        return out

    def not_examined(self) -> list[NotExamined]:
        """What of the instrument's traffic was not examined as it was read: bytes the capture missed,
        bytes sent again with other content, urgent bytes, the far end's bytes of a flow both ends
        opened, packets forged in the far end's name; a row per flow (bounded: the rest in one row each)."""
        return self.blind.rows()

    def notes(self) -> list[str]:
        """What the report says of the links named (``link:IFINDEX``) that no packet was seen on: on
        those, packets forged in another's name were not told apart."""
        return [f"--instrument link:{n}: no packet of the recording was seen on interface {n} (a Linux cooked "
                "v2 recording says where it saw each packet): packets forged in another's name were not told "
                "apart there" for n in sorted(self.links - self.links_seen)]

    def close(self) -> Items:
        out: Items = []
        self._dirty.clear()
        while self._active:
            _, flow = self._active.popitem(last=False)
            self._retire(flow, out)
            if self.shared.get(INJECTED):   # what a closing parser still found goes on to flows of its own
                self._inner(out)
        out += flush_joined(self.shared, None, None) + flush_uploads(self.shared, None, None)
        return out

    # ---- flow table ---------------------------------------------------------------------------

    def _instrument_end(self, ip: str, port: int) -> bool:
        return self._is_instrument(ip) and (ip, port) not in self.not_instrument_ends

    def _arrived(self, seg: Segment) -> bool:
        """Whether the recording says ``seg`` arrived from the instrument's side (its author is the
        instrument, whatever address it claims)."""
        return bool(self.links) and seg.meta is not None and seg.meta.get("arrived") in self.links

    def _left(self, seg: Segment) -> bool:
        """Whether the recording says the rig sent ``seg`` towards the instrument (from the far end)."""
        return bool(self.links) and seg.meta is not None and seg.meta.get("left") in self.links

    def _is_instrument(self, ip: str) -> bool:
        return _member(self._local_cache, ip, lambda addr: any(addr in net for net in self.instrument)
                       and not any(addr in net for net in self.not_instrument))

    def _bench_src(self, seg: Segment) -> bool | None:
        """In a recording without sides, between the bench (``BENCH_NETWORKS``) and an address beyond it,
        the bench's end is the instrument's whoever opened (a vendor's server that connects in to pull
        the reads): whether ``seg``'s sender is that end, or None where the bench does not decide."""
        if self.links:
            return None
        src = _member(self._bench_cache, seg.src, _on_bench)
        return src if src != _member(self._bench_cache, seg.dst, _on_bench) else None

    def _lookup(self, seg: Segment, transport: str) -> tuple[tuple, _Flow | None]:
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        space = _space(seg)
        key = (space, transport) + ((a, b) if a <= b else (b, a))
        flow = self._active.get(key)
        if flow is None and self._served:
            served = self._served
            flow = (served.get((space, transport, seg.src, seg.dst, seg.dport))
                    or served.get((space, transport, seg.dst, seg.src, seg.sport)))
            if flow is not None:
                key = flow.key
        if flow is not None:
            self._active.move_to_end(key)
        return key, flow

    def _direction(self, seg: Segment, flow: _Flow) -> str:
        if flow.server is None:
            return "out" if (seg.src, seg.sport) == flow.out else "in"
        # any client port: the server endpoint is known, the client's port is not
        from_server = (seg.src, seg.sport) == flow.server
        return "out" if from_server == (flow.server == flow.out) else "in"

    def _orient(self, seg: Segment, src_is_client: bool,
                claimed_out: bool | None = None) -> tuple[Endpoint, Endpoint, str]:
        """(out endpoint, in endpoint, opener direction) of a new IP flow; ``claimed_out``: whether its
        first sender is the instrument's side, as a request that announced the flow says (the
        recording's sides and the instrument list still decide first)."""
        src, dst = (seg.src, seg.sport), (seg.dst, seg.dport)
        bench = self._bench_src(seg)
        guess = bench if bench is not None else src_is_client if claimed_out is None else claimed_out
        # what came from the instrument's side is its own, what the rig sent it is the far end's
        src_is_out = False if self._left(seg) else guess or self._arrived(seg)
        if self.instrument:
            s_in, d_in = self._instrument_end(seg.src, seg.sport), self._instrument_end(seg.dst, seg.dport)
            if s_in != d_in:   # the instrument list overrides who opened
                src_is_out = s_in
        out_ep, in_ep = (src, dst) if src_is_out else (dst, src)
        return out_ep, in_ep, "out" if src_is_out == src_is_client else "in"

    def _new_flow(self, key: tuple, seg: Segment, transport: str, src_is_client: bool, out: Items,
                  oriented: tuple[Endpoint, Endpoint, str] | None = None) -> _Flow:
        claim = None
        claims = self.shared.get(DATAGRAM_CLAIMS) if transport == "udp" and oriented is None else None
        for end in ((seg.src, seg.sport), (seg.dst, seg.dport)) if claims else ():
            claim = claims.pop(end, None)
            if claim is not None:   # a transfer a request announced: the request's client on its side
                claimed_out = (end == (seg.src, seg.sport)) == (claim.side == "out")
                oriented = self._orient(seg, src_is_client, claimed_out)
                break
        out_ep, in_ep, opener = oriented or self._orient(seg, src_is_client)
        if seg.channel in ("serial", "usb"):     # a line's ports, a USB device: no port numbers
            fid = self._unique(f"{transport} {out_ep[0]} > {in_ep[0]}")
        else:
            fid = self._unique(f"{transport} {_fmt(*out_ep)} > {_fmt(*in_ep)}")
        destination = in_ep[0] if seg.channel == "net" else f"{seg.channel} {in_ep[0]}"
        via = seg.meta.get("via") if seg.meta else None
        # a carrier's frames (a USB modem's) are findings of the carrier's channel: they left through USB
        channel = str(seg.meta.get("carrier", seg.channel)) if via else seg.channel
        info = FlowInfo(flow=fid, channel=channel, transport=transport, src=out_ep[0], sport=out_ep[1],
                        dst=in_ep[0], dport=in_ep[1], destination=destination, t_first=seg.t, t_last=seg.t)
        if seg.meta and "tunnel" in seg.meta:    # which tunnel carried it: the flow record says so
            info.meta["tunnel"] = seg.meta["tunnel"]
        if RESOLVED in self.shared and seg.channel == "net":    # the names DNS answers gave its address
            resolved = self.shared[RESOLVED].of(info.dst)
            if resolved:
                info.meta["resolved"] = resolved
        self.records.open(info)
        flow = _Flow(info, key, out_ep, in_ep, transport, self.kept)
        flow.channel = seg.channel
        flow.opener = opener
        if transport == "tcp":
            flow.take_claim(self.shared)
        flow.claim = flow.claim or claim
        if via:
            flow.via = tuple(via)
            info.meta["via"] = " > ".join(flow.via)
        self._active[key] = flow
        if len(self._active) > MAX_ACTIVE_FLOWS:
            _, victim = self._active.popitem(last=False)
            # a finished flow only lingering for stray packets, or one that carried nothing, loses
            # nothing: no error for it
            idle = victim.closed or not (victim.info.bytes_out or victim.info.bytes_in)
            self._retire(victim, out, reason=None if idle else "evicted: too many active flows")
        return flow

    def _unique(self, fid: str) -> str:
        """``fid``, or ``fid #n`` when a flow of that name is on the books (a reused 4-tuple)."""
        n = self._reused.get(fid)
        if n is None and fid not in self.flows:
            return fid
        n = n or 1
        while True:
            n += 1
            if f"{fid} #{n}" not in self.flows:
                break
        if len(self._reused) >= MAX_ACTIVE_FLOWS:
            self._reused.clear()    # a name folded into a summary may be given again: no harm
        self._reused[fid] = n
        return f"{fid} #{n}"

    def _context(self, flow: _Flow, chain: tuple[str, ...]) -> FlowContext:
        return FlowContext(flow=flow.info.flow, info=flow.info, shared=self.shared, chain=flow.via + chain,
                           opener=flow.opener, channel=flow.info.channel)

    def _idle_flush(self, out: Items) -> None:
        """Lanes of flows idle for IDLE_FLUSH: undecided ones decide, parsers that buffer emit."""
        horizon = self._now - IDLE_FLUSH
        dirty = self._dirty
        while dirty:
            key, flow = next(iter(dirty.items()))
            if flow.last > horizon:
                break
            del dirty[key]
            settled = self._settled
            settled[flow.info.flow] = (flow.info.t_last, self._now)
            settled.move_to_end(flow.info.flow)
            if len(settled) > MAX_ACTIVE_FLOWS:
                settled.popitem(last=False)
            for lane in list(flow.lanes.values()):
                if not lane.decided:
                    if sum(len(lane.first[d]) for d in ("out", "in")) >= IDLE_DECIDE_MIN:
                        self._detect(flow, lane, flow.last, out, final=True)
                elif hasattr(lane.parser, "idle"):
                    self._call(flow, lane, "idle", "", None, flow.last, out)

    def _mark(self, key: tuple, flow: _Flow) -> None:
        dirty = self._dirty
        if key in dirty:
            dirty.move_to_end(key)
        else:
            dirty[key] = flow

    def _sweep(self, out: Items) -> None:
        """Close flows idle past their timeout, judged on a grid of SWEEP_INTERVAL seconds of capture
        time so that a live session (swept on ``tick``) and its replay close the same flows."""
        now = self._now - self._now % SWEEP_INTERVAL
        self._next_sweep = now + SWEEP_INTERVAL
        out += flush_joined(self.shared, now - JOINED_WAIT, now - IDLE_TIMEOUT_TCP)   # joined across connections
        out += flush_uploads(self.shared, now - PARTS_WAIT, now - IDLE_TIMEOUT_TCP)   # parts held for those before
        while self._active:
            key, flow = next(iter(self._active.items()))
            timeout = (CLOSED_LINGER if flow.closed else   # a serial line, a USB device: long conversations too
                       IDLE_TIMEOUT_TCP if flow.transport in ("tcp", "serial", "usb") else IDLE_TIMEOUT_UDP)
            if now - flow.last <= timeout:
                # LRU head is the least recently used flow, but a closed flow behind a busy one
                # can wait: it only holds small state once its parser is closed.
                break
            del self._active[key]
            self._retire(flow, out)

    def _retire(self, flow: _Flow, out: Items, reason: str | None = None) -> None:
        """A flow left the active table: flush it, and keep or summarise its record."""
        self._finish(flow, out, reason)
        if flow.server is not None:
            client = flow.out if flow.server == flow.inn else flow.inn
            served = (flow.key[0], flow.transport, client[0], *flow.server)
            if self._served.get(served) is flow:
                del self._served[served]
        self.blind.retire(flow.info)
        self.records.close(flow.info, keep=self.blind.named(flow.info))

    def _finish(self, flow: _Flow, out: Items, reason: str | None = None) -> None:
        if reason:
            flow.info.add_error(reason)
        if flow.conn is not None:
            events = flow.conn.flush()
            if events:
                self._deliver(flow, events, flow.last, out)
            kept = flow.conn.streams["out"].kept
            if kept is not None:
                kept.clear()
        if flow.lanes:
            for lane in flow.lanes.values():
                self._close_lane(flow, lane, flow.last, out)
            flow.lanes.clear()
        flow.conn = None

    # ---- TCP ----------------------------------------------------------------------------------

    def _tcp(self, seg: Segment, out: Items) -> None:
        if self.kept.used > MAX_KEPT_TOTAL:
            self._trim_kept()
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (_space(seg), "tcp") + ((a, b) if a <= b else (b, a))
        active = self._active
        flow = active.get(key)
        if flow is not None:
            active.move_to_end(key)
        flags = seg.flags
        if (flow is not None and flags & SYN and not flags & ACK
                and (flow.closed or flow.conn is None or flow.conn.finished)):
            del self._active[key]       # port reuse: a new connection on a finished 4-tuple
            self._retire(flow, out)
            flow = None
        if flow is None:
            if flags & SYN:
                src_is_client = not flags & ACK
            else:   # mid-stream pickup: the ephemeral (higher) port is the client's
                src_is_client = seg.sport >= seg.dport
            flow = self._new_flow(key, seg, "tcp", src_is_client, out)
        direction = "out" if a == flow.out else "in"
        info = flow.info
        self.last, self.last_direction = info, direction
        info.packets += 1
        info.t_last = seg.t
        if direction == "in" and self.links and self._arrived(seg):
            self._forged(flow, seg, out)
            return
        if flags & FIN and direction == "out":
            info.fin_out = True
        if flags & SYN and not flags & ACK and direction != flow.opener:
            self._contest(flow, seg)
        flow.last = seg.t
        conn = flow.conn
        data = seg.data
        if data:
            self._mark(key, flow)
        if flags & URG and direction == "out" and seg.meta and "urgent" in seg.meta:
            self._urgent(flow, seg)
        if conn.in_order(direction, seg.seq, seg.ack, flags, data):
            # the usual in-order segment (or pure ACK): straight to a decided parser, no event list
            if not data:
                return
            lane = flow.lanes.get("tcp")
            if lane is None or not lane.decided or direction in lane.late or flow.urgent is not None:
                start = conn.streams[direction].next - len(data)
                self._deliver(flow, [(direction, Chunk(start, data))], seg.t, out)
                return
            n = len(data)
            if direction == "out":
                info.bytes_out += n
            else:
                info.bytes_in += n
            try:                    # _call's "feed", inlined: this runs once per data segment
                items = lane.parser.feed(direction, data, seg.t)
            except Exception as exc:
                self._failed(flow, lane, exc, "feed", direction, data, seg.t, out)
                return
            if items:
                out.extend(items)
            lane.offsets[direction] += n
            return
        events = conn.segment(direction, seg.seq, seg.ack, flags, data)
        if events:
            self._deliver(flow, events, seg.t, out)
        if flags & (FIN | RST) and conn.finished:
            events = conn.flush()
            if events:
                self._deliver(flow, events, seg.t, out)
            for lane in flow.lanes.values():
                self._close_lane(flow, lane, seg.t, out)
            flow.lanes.clear()
            # the connection stays: bytes after a FIN or RST its receiver dropped (a forged one)
            # are still the instrument's, and go to new lanes until the flow retires
            flow.closed = True
            if conn.streams["out"].kept is not None:
                conn.streams["out"].drop_acknowledged()

    def _deliver(self, flow: _Flow, events: list, t: float, out: Items) -> None:
        info = flow.info
        lane = flow.lanes.get("tcp")
        if lane is None:
            lane = flow.lanes["tcp"] = _Lane(self._context(flow, ("tcp",)), "stream")
        for direction, ev in events:
            if isinstance(ev, Chunk):
                n = len(ev.data)
                if direction == "out":
                    info.bytes_out += n
                else:
                    info.bytes_in += n
                self._lane_data(flow, lane, direction, ev.data, t, out)
                if flow.urgent is not None and direction == "out":
                    self._without_urgent(flow, ev, t, out)
            elif isinstance(ev, Resent):
                self._resent(flow, ev, t, out)
            else:
                if direction == "out":
                    info.bytes_out += ev.size
                    info.missed_out += ev.size
                    self.blind.add(MISSED_OUT, info)
                else:
                    info.bytes_in += ev.size
                self._lane_gap(flow, lane, direction, ev.size, t, out)

    def _contest(self, flow: _Flow, seg: Segment) -> None:
        """The end taken for the far one opened the flow too: a simultaneous open (rare), or the
        instrument forged the other end's SYN first, so that its own bytes would count as the far
        end's.  Unless the instrument's addresses, the side the SYN was seen on or the bench (one end on it,
        one beyond) decide, the far end's bytes are not examined as the instrument's: reported, never clean."""
        if self.instrument and self._instrument_end(seg.src, seg.sport) != self._instrument_end(seg.dst, seg.dport):
            return
        if self._arrived(seg) or self._left(seg):    # the link says who sent it: the flow was oriented so too
            return
        if self._bench_src(seg) is not None:    # the bench's end is the instrument's: oriented so too
            return
        self.blind.add(CONTESTED, flow.info)

    def _urgent(self, flow: _Flow, seg: Segment) -> None:
        """An urgent pointer from the instrument: note the byte a Linux receiver takes out of the
        stream (the one before the pointer, RFC 6093), to read the stream again without it."""
        stream = flow.conn.streams["out"]
        at = (stream.offset(seg.seq) if stream.base is not None else 0) + max(seg.meta["urgent"] - 1, 0)
        if at < stream.next:
            return      # delivered already (a retransmission's mark)
        marks = flow.urgent
        if marks is None:
            marks = flow.urgent = []
        i = bisect_left(marks, at)
        if (i < len(marks) and marks[i] == at) or len(marks) >= MAX_URGENT_MARKS:
            return
        insort(marks, at)
        flow.info.urgent_out += 1
        self.blind.add(URGENT_OUT, flow.info)

    def _without_urgent(self, flow: _Flow, chunk: Chunk, t: float, out: Items) -> None:
        """The outbound chunk without the urgent bytes in it, to a lane of its own."""
        marks, start, data = flow.urgent, chunk.offset, chunk.data
        end = start + len(data)
        i, j = bisect_left(marks, start), bisect_left(marks, end)
        pieces, pos = [], start
        for at in marks[i:j]:
            pieces.append(data[pos - start:at - start])
            pos = at + 1
        pieces.append(data[pos - start:])
        del marks[:j]
        self._lane_data(flow, self._stream_lane(flow, "urgent"), "out", b"".join(pieces), t, out)

    def _trim_kept(self) -> None:
        """Over the budget: flows drop what their peers acknowledged, then the least recently active
        ones let go of the rest, till half the budget is used."""
        for drop in (True, False):
            for flow in self._active.values():
                if self.kept.used <= MAX_KEPT_TOTAL // 2:
                    return
                stream = flow.conn.streams["out"] if flow.conn is not None else None
                if stream is not None and stream.kept is not None:
                    if drop:
                        stream.drop_acknowledged()
                    else:
                        stream.kept.clear()

    def _resent(self, flow: _Flow, ev: Resent, t: float, out: Items) -> None:
        """Outbound bytes sent again unlike (or not shown like) the first copy: a lane of their own,
        where one whole second version (junk first, the real stream resent) reads as a stream."""
        info = flow.info
        info.resent_out += len(ev.data)
        self.blind.add(RESENT_OUT, info)
        self._lane_data(flow, self._stream_lane(flow, "resent"), "out", ev.data, t, out)

    def _stream_lane(self, flow: _Flow, name: str) -> _Lane:
        """The flow's second reading of its bytes named ``name`` (chain ``tcp > name``): its TLS
        plaintext, bytes sent again, the stream without its urgent bytes, forged packets' bytes
        (``udp > forged``, read as datagrams, on a datagram flow)."""
        lane = flow.lanes.get(name)
        if lane is None:
            transport = flow.info.transport
            lane = flow.lanes[name] = _Lane(self._context(flow, (transport, name)),
                                            "stream" if transport == "tcp" else "datagram")
        return lane

    def _forged(self, flow: _Flow, seg: Segment, out: Items) -> None:
        """A packet in the far end's name that arrived from the instrument's side: the instrument
        forged it, to have the rig believe what the far end never said (an acknowledgement that lets
        a copy go, a reset, a DNS answer vouching for an address).  Not believed: nothing of it reaches
        the connection or the far end's parsers; its bytes are read as the instrument's, and reported."""
        info = flow.info
        self.last_direction = "out"
        flow.last = max(flow.last, seg.t)
        info.forged_in += 1
        self.blind.add(FORGED_IN, info)
        if seg.data:
            info.bytes_out += len(seg.data)
            self._mark(flow.key, flow)
            self._lane_data(flow, self._stream_lane(flow, "forged"), "out", seg.data, seg.t, out)

    # ---- decrypted TLS ------------------------------------------------------------------------

    def _plaintext(self, seg: Segment, out: Items) -> None:
        key, flow = self._lookup(seg, "tcp")
        if flow is None:
            # a proxy's plaintext says who opened the connection (it may come before the SYN does);
            # tshark's does not, and the ephemeral (higher) port is the client's
            client = seg.meta.get("client") if seg.meta else None
            flow = self._new_flow(key, seg, "tcp", client == "src" if client else seg.sport >= seg.dport, out)
        direction = "out" if (seg.src, seg.sport) == flow.out else "in"
        self.last, self.last_direction = flow.info, direction
        flow.info.decrypted = True
        if seg.meta and seg.meta.get("only"):     # no wire bytes will ever be counted for this flow
            if direction == "out":
                flow.info.bytes_out += len(seg.data)
            else:
                flow.info.bytes_in += len(seg.data)
        flow.last = max(flow.last, seg.t)
        # its plaintext is the flow's activity too: a live proxy's may come before the wire's packets
        # (their recorder is slower), and ``settled`` must not call the flow quiet meanwhile
        flow.info.t_last = max(flow.info.t_last, seg.t)
        name = seg.meta.get("lane", "tls") if seg.meta else "tls"
        lane = self._stream_lane(flow, name)
        if name == RECORDS_LANE and not lane.decided:
            # the content of records that are not application data: no application's stream, read raw
            self._start(flow, lane, RawParser(lane.ctx), t=seg.t, out=out)
        if seg.data:
            self._mark(key, flow)
            self._lane_data(flow, lane, direction, seg.data, seg.t, out)

    # ---- UDP and other datagram transports ----------------------------------------------------

    def _datagram(self, seg: Segment, out: Items) -> None:
        transport = seg.transport
        meta = seg.meta
        if meta and "direction" in meta:
            # USB / serial: the Segment names the far end (device, host port) and says the
            # direction; its dst (the instrument PC, the instrument's port) is the out side
            direction = meta["direction"]
            key = (seg.channel, transport, seg.src, seg.sport)
            flow = self._active.get(key)
            if flow is not None:
                self._active.move_to_end(key)
            else:
                flow = self._new_flow(key, seg, transport, True, out,
                                      oriented=((seg.dst, 0), (seg.src, seg.sport), "out"))
            if "line" in meta:
                note_line_event(flow.info, meta["line"], seg.t)
        else:
            key, flow = self._lookup(seg, transport)
            if flow is None:    # its first datagram's sender is the client, unless a proxy says otherwise
                flow = self._new_flow(key, seg, transport, not (meta and meta.get("client") == "dst"), out)
            direction = self._direction(seg, flow)
        info = flow.info
        self.last, self.last_direction = info, direction
        info.packets += 1
        info.t_last = seg.t
        flow.last = seg.t
        if direction == "in" and self.links and self._arrived(seg):
            self._forged(flow, seg, out)
            return
        n = len(seg.data)
        if direction == "out":
            info.bytes_out += n
        else:
            info.bytes_in += n
        lane = flow.lanes.get(transport)
        if lane is None:
            kind = "channel" if seg.channel in self.channel_parsers else "datagram"
            lane = flow.lanes[transport] = _Lane(self._context(flow, (transport,)), kind)
        if transport != "udp" and lane.kind == "datagram" and not lane.decided:
            self._start(flow, lane, RawParser(lane.ctx), t=seg.t, out=out)
        if lane.kind == "channel" and (seg.data or (meta and "setup" in meta)):
            self._mark(key, flow)
            self._lane_segment(flow, lane, direction, seg, out)
        elif seg.data:
            self._mark(key, flow)
            self._lane_data(flow, lane, direction, seg.data, seg.t, out)

    # ---- parser lanes -------------------------------------------------------------------------

    def _lane_data(self, flow: _Flow, lane: _Lane, direction: str, data: bytes, t: float, out: Items) -> None:
        if not lane.decided:
            if len(lane.first[direction]) < DETECT_BYTES:
                lane.first[direction] += data[: DETECT_BYTES - len(lane.first[direction])]
            lane.pending.append(("data", direction, data, t))
            self._detect(flow, lane, t, out, final=False)
            return
        if direction in lane.late:
            self._late(flow, lane, direction, data, t, out)
        self._call(flow, lane, "feed", direction, data, t, out)

    def _lane_segment(self, flow: _Flow, lane: _Lane, direction: str, seg: Segment, out: Items) -> None:
        """A channel lane: the whole Segment goes to a parser that takes them (``feed_segment``)."""
        if not lane.decided:
            first = lane.first[direction]
            if len(first) < DETECT_BYTES:
                lane.first[direction] = first + seg.data[: DETECT_BYTES - len(first)]
            lane.pending.append(("segment", direction, seg, seg.t))
            self._detect(flow, lane, seg.t, out, final=False)
            return
        self._call(flow, lane, "segment", direction, seg, seg.t, out)

    def _lane_gap(self, flow: _Flow, lane: _Lane, direction: str, size: int, t: float, out: Items) -> None:
        if not lane.decided:
            lane.pending.append(("gap", direction, size, t))
            self._detect(flow, lane, t, out, final=True)
            return
        self._call(flow, lane, "gap", direction, size, t, out)

    def _close_lane(self, flow: _Flow, lane: _Lane, t: float, out: Items) -> None:
        if not lane.decided:
            if not lane.pending:
                return
            self._detect(flow, lane, t, out, final=True)
        self._call(flow, lane, "close", "", None, t, out)

    def _detect(self, flow: _Flow, lane: _Lane, t: float, out: Items, final: bool) -> None:
        info = flow.info
        if flow.transport == "tcp":
            flow.take_claim(self.shared)    # again: the claim may have come after the SYN
        claim = flow.claim
        if claim is not None and claim.chain == lane.ctx.chain:
            flow.claim = None
            lane.ctx.claimed = claim.info
            self._construct(flow, lane, claim.parser, t, out)
            return
        first_out, first_in = lane.first["out"], lane.first["in"]
        sport, dport = info.sport, info.dport     # as the contract names them: out side, in side
        chosen = None
        parsers = (self.stream_parsers if lane.kind == "stream" else self.datagram_parsers
                   if lane.kind == "datagram" else self.channel_parsers[flow.channel])
        for cls in parsers:
            try:
                hit = (cls.detect(first_out or first_in, sport, dport) if lane.kind == "datagram"
                       else cls.detect(first_out, first_in, sport, dport))
            except Exception as exc:  # a detect bug must not stop the run
                info.add_error(f"{getattr(cls, 'name', cls.__name__)}.detect: {type(exc).__name__}: {exc}")
                continue
            if hit:
                chosen = cls
                break
        enough = (final or lane.kind == "datagram" or (first_out and first_in)
                  or max(len(first_out), len(first_in)) >= DETECT_BYTES)
        if chosen is None and not enough:
            return
        hinted = chosen is None
        if hinted and lane.kind == "stream":
            self._socks(lane, first_out)
        if hinted:
            ports = {sport, dport}
            chosen = next((cls for cls in parsers if ports & set(getattr(cls, "ports", ()))), None)
        self._construct(flow, lane, chosen, t, out, hinted)

    @staticmethod
    def _socks(lane: _Lane, data: bytes) -> None:
        """A SOCKS CONNECT request the instrument sent: the name its proxy was asked for."""
        target = socks_target(data) if data and data[0] in (4, 5) else None
        if target:
            lane.ctx.named(target, proxied=True)

    def _late(self, flow: _Flow, lane: _Lane, direction: str, data: bytes, t: float, out: Items) -> None:
        """On a lane raw for want of a match: does a protocol begin with this chunk?  Then it takes over."""
        if lane.offsets[direction] >= LATE_DETECT_BYTES:
            lane.late.discard(direction)
            return
        if direction == "out":
            self._socks(lane, data)
        for cls, begins in self._begins:
            try:
                hit = begins(data)
            except Exception as exc:  # a detect bug must not stop the run
                flow.info.add_error(f"{getattr(cls, 'name', cls.__name__)}.begins: {type(exc).__name__}: {exc}")
                continue
            if hit:
                lane.late.clear()
                self._call(flow, lane, "close", "", None, t, out)    # what the raw parser still holds
                flow.info.app = ""
                self._construct(flow, lane, cls, t, out)
                return

    def _construct(self, flow: _Flow, lane: _Lane, chosen: type | None, t: float, out: Items,
                   hinted: bool = False) -> None:
        parser = None
        if chosen is not None:
            try:
                parser = chosen(lane.ctx)
            except Exception as exc:
                flow.info.add_error(f"{getattr(chosen, 'name', chosen.__name__)}: {type(exc).__name__}: {exc}")
        self._start(flow, lane, parser or RawParser(lane.ctx, dict(lane.offsets)), t, out, hinted)
        lane.late = {"out", "in"} if parser is None and lane.kind == "stream" else set()

    def _start(self, flow: _Flow, lane: _Lane, parser: Any, t: float, out: Items, hinted: bool = False) -> None:
        lane.parser = parser
        lane.decided = True
        # only a parser that recognised the content takes the client's other ports, not a port hint, and
        # only in the flow's own lane (not in the bytes of packets forged in the far end's name)
        if (lane.kind == "datagram" and lane.pending and not hinted and getattr(parser, "any_client_port", False)
                and flow.channel == "net" and flow.lanes.get(flow.transport) is lane):
            _, direction, data, _ = lane.pending[0]
            sender, receiver = (flow.out, flow.inn) if direction == "out" else (flow.inn, flow.out)
            self._serve(flow, sender if parser.from_server(data) else receiver)
        lane.first = {"out": b"", "in": b""}
        pending, lane.pending = lane.pending, []
        for op, direction, arg, t_item in pending:
            self._call(flow, lane, "feed" if op == "data" else op, direction, arg, t_item, out)

    def _call(self, flow: _Flow, lane: _Lane, op: str, direction: str, arg: Any, t: float, out: Items) -> None:
        parser = lane.parser
        try:
            if op == "feed":
                items = parser.feed(direction, arg, t)
            elif op == "segment":
                items = (parser.feed_segment(direction, arg) if hasattr(parser, "feed_segment")
                         else parser.feed(direction, arg.data, t) if arg.data else [])
            elif op == "gap":
                items = parser.gap(direction, arg) if hasattr(parser, "gap") else []
            elif op == "idle":
                items = parser.idle(t)
            else:
                items = parser.close(t)
            if items:
                out.extend(items)
        except Exception as exc:
            self._failed(flow, lane, exc, op, direction, arg, t, out)
            return
        if op == "feed":
            lane.offsets[direction] += len(arg)
        elif op == "segment":
            lane.offsets[direction] += len(arg.data)
        elif op == "gap":
            lane.offsets[direction] += arg

    def _failed(self, flow: _Flow, lane: _Lane, exc: Exception, op: str, direction: str, arg: Any, t: float,
                out: Items) -> None:
        """A parser raised: note it on the flow and hand the rest of the lane to the raw parser."""
        parser = lane.parser
        name = getattr(parser, "name", type(parser).__name__)
        flow.info.add_error(f"{name}: {type(exc).__name__}: {exc}".splitlines()[0])
        if isinstance(parser, RawParser):
            return   # nothing to fall back to; the raw parser does not raise on bytes
        lane.parser = RawParser(lane.ctx, dict(lane.offsets))
        lane.ctx.info.app = lane.ctx.info.app or "raw"
        if op in ("feed", "gap", "segment"):
            self._call(flow, lane, op, direction, arg, t, out)
        else:
            out.extend(lane.parser.close(t))

    def _serve(self, flow: _Flow, server: Endpoint) -> None:
        """Datagrams between the client's address (any port) and ``server`` join ``flow``.

        The parser says which end the server is (``from_server`` of the first datagram: a DNS
        response comes from the server, whatever the capture caught first).  The flow is named for
        it before its parser makes anything: ``udp 10.0.0.5:* > 10.0.0.1:53``.
        """
        client = flow.inn if server == flow.out else flow.out
        if client == server:
            return
        flow.server = server
        self._served[(flow.key[0], flow.transport, client[0], *server)] = flow
        info = flow.info
        del self.flows[info.flow]
        any_port = _fmt(client[0], "*")
        ends = (any_port, _fmt(*server)) if client == flow.out else (_fmt(*server), any_port)
        info.flow = self._unique(f"{flow.transport} {ends[0]} > {ends[1]}")
        if client == flow.out:
            info.sport = 0
        else:
            info.dport = 0
        self.records.open(info)
        for lane in flow.lanes.values():
            lane.ctx.flow = info.flow


def _space(seg: Segment) -> Any:
    """Where a flow's addresses are unique: its channel, or the channel and the tunnel that carried
    it (two tunnels may carry the same inner addresses: private networks behind two gateways), or the
    carrier whose packets it is (``meta["via"]``, ``meta["carried_by"]``: two serial lines' PPP links
    give the same addresses)."""
    meta = seg.meta
    if not meta:
        return seg.channel
    if "via" in meta:       # frames a USB network adapter carried: two modems may give the same addresses
        return (seg.channel, meta.get("carried_by"), *meta["via"])
    if "tunnel" in meta:
        return seg.channel, meta["tunnel"]
    return seg.channel
