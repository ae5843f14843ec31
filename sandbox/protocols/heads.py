"""The header fields of the instrument's packets, read as streams (``Segment.head``,
``sandbox.captures.heads``).

The Engine hands ``HeaderFields`` each outbound Segment with the flow the Dissector put it in.  A flow
holds its packets' records; with OWN_STREAM_RECORDS packets or more it reads each field in a stream of
its own (``tcp > IPv4 identification``), read raw as any unrecognised stream is.  A shorter flow's
values go, once it is quiet, to the stream of that field over the connections to its destination's
site (``... > across connections``), as do, every packet's, the fields that choose a packet's flow (a
SYN's source port and initial sequence number, a datagram's source port, an echo's identifier): a
program that opens a connection a word or sends a datagram a word writes one stream there.

Most fields of a stack's packets say nothing: a TTL, a zero type of service or urgent pointer are one
value, an identification or a timestamp counts up.  Such a flow's field is not read until it does
something else; a stream across connections is not read while all its values are one.
A counter's steps are read, though, once they are more than one step (``... > counter steps``, the low
byte of each): a program that raises the identification of its pings by a byte of a file each time, or
its timestamps, writes a stream there.  So is the low byte of each packet's payload length (``payload
size``, a field of every record): a datagram of 100 bytes plus a byte of a file, or a segment of as
many, each, is a stream of sizes; and so is the time between a flow's packets (``packet gap (ms)``: a
byte of a file a delay of as many milliseconds, 85 minutes for 40 kB), and between the packets of a
site's short flows (``site gap (ms)``, across connections: a connection, or a datagram from a new
port, a byte's milliseconds after the one before).
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections import OrderedDict

from sandbox.captures.heads import V4_HEAD, columns, fields
from sandbox.model import ACK, SYN, FlowInfo, Observation, Payload, Segment
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import site
from sandbox.protocols.raw import RAW_FLUSH_SECONDS, RawParser

Items = list[Payload | Observation]
# Outbound packets from which a flow reads its fields in streams of its own: 32 bytes of a two-byte
# field, the least the correlator matches (a shorter flow's values join its site's stream).
OWN_STREAM_RECORDS = 16
# Records a flow holds before its streams get them.
FLUSH_RECORDS = 256
# Capture seconds a flow's held records wait once it is quiet (a live finding within a second).
QUIET_S = 0.3
# Flows whose fields are followed at once (the one quiet longest let go first), and the capture seconds
# after which a quiet one is let go (a flow table closes an idle TCP flow then).
MAX_FLOWS = 50_000
EXPIRE_S = 300.0
# Flows with streams of their own at once (a raw parser a field each).
MAX_OWN = 1024
# Streams of fields across connections at once (a site and a field each), the quietest ended first:
# each holds at most a raw chunk.
MAX_ACROSS = 256
# Bytes of records and of what flows' own streams were given that may be held at once (``_bound``).
MAX_HELD = 8 << 20
# Bytes of values a stream across connections gathers before its parser reads them.
PENDING = 256
# A stream across connections takes its values in the order their packets came: those of a packet after
# the first of a short flow still held wait for it (a program that sends each word from a new socket
# meets a port it used a few hundred datagrams before: that flow's first word belongs where it came, not
# where the flow went quiet).  They wait MAX_WAIT capture seconds and MAX_PENDING bytes at most.
MAX_WAIT = 2.0
MAX_PENDING = 64 << 10
# A counter's steps (as a signed number of the field's width) stay below this share of its range: an
# identification or a timestamp counts up by what the stack sent or the clock moved; written values jump.
COUNTER_STEP_BITS = {1: 0, 2: 8, 4: 16}
STEPS = "counter steps"
# The fields after the capture's in each record of a flow: the low byte of the packet's payload length,
# and of the milliseconds since the flow's packet before (a timing channel: a byte of a file a delay).
SIZE = ("payload size", 1)
GAP = ("packet gap (ms)", 1)
# The low byte of the milliseconds between two packets of a site's short flows (a flow's first
# OWN_STREAM_RECORDS packets, and again once it went quiet: a port used again is no new flow, its
# packet's gap is still the site's), read across connections; sites whose last such packet's time is
# known, the latest of them.
SITE_GAP = "site gap (ms)"
MAX_SITES = 4096
ACROSS = "across connections"
OPTIONS = "option values (TCP, IP)"
# Option values from which a flow reads them in a stream of its own (the least the correlator matches).
OWN_OPTION_BYTES = 32
# Fields that choose a packet's flow, read across connections: (name, the first and last byte of the
# value in ``keyed_values``) of each transport's packets (TCP's of a SYN's)
KEYED = {
    "tcp": (("TCP source port", 0, 2), ("TCP initial sequence number", 2, 6)),
    "udp": (("UDP source port", 0, 2),),
    "icmp": (("ICMP echo identifier", 0, 2), ("ICMP echo identifier and sequence", 0, 4)),
}


def keyed_values(seg: Segment) -> bytes:
    """The values of the fields ``KEYED`` names, in a row: a source port (an echo's identifier) and a
    SYN's initial sequence number or an echo's sequence (its record's last field)."""
    port = seg.sport.to_bytes(2, "big")
    if seg.transport == "tcp":
        return port + seg.seq.to_bytes(4, "big")
    return port + seg.head[-2:] if seg.transport == "icmp" else port


def counter_steps(values: bytes, size: int) -> bytes | None:
    """The low byte of each step of a counter's values (``size`` bytes each); None when they are no
    counter's (a step of COUNTER_STEP_BITS or more, forward or back)."""
    bits = COUNTER_STEP_BITS.get(size, 0)
    if not bits:
        return None
    width = 8 * size
    numbers = [int.from_bytes(values[i:i + size], "big") for i in range(0, len(values) - size + 1, size)]
    steps = [(b - a) % (1 << width) for a, b in zip(numbers, numbers[1:], strict=False)]
    return bytes(step & 0xFF for step in steps) if all(step < 1 << bits for step in steps) else None


# Bytes of the fields the capture records of a packet of each transport (IPv4's and IPv6's alike): what
# its Segment's record holds past them are option values (TCP's, and IP options past the usual).
FIXED_RECORD = {transport: sum(size for _, size in fields(transport, False)) for transport in ("tcp", "udp", "icmp")}


def flow_fields(transport: str, v6: bool) -> tuple[tuple[str, int], ...]:
    """The fields of a flow's records: the capture's (``fields``), then the payload size's and the gap's."""
    return (*fields(transport, v6), SIZE, GAP)


def record_size(transport: str, v6: bool) -> int:
    """Bytes of one packet's record of a flow of ``transport``."""
    return sum(size for _, size in flow_fields(transport, v6))


class _Flow:
    __slots__ = ("info", "transport", "site", "numbers", "records", "options", "t_last", "lanes", "buffered",
                 "judged")

    def __init__(self, info: FlowInfo, transport: str) -> None:
        self.info = info
        self.transport = transport
        self.site = site(info.destination or info.dst)
        self.numbers = array("Q")       # the packet number of each record held while it has no streams
        self.records = bytearray()
        self.options = bytearray()      # the values of TCP options past the record (``tcp_options``)
        self.t_last = 0.0
        # its own streams (by the labels after its transport's), once it has OWN_STREAM_RECORDS
        self.lanes: dict[tuple[str, ...], RawParser] | None = None
        self.buffered = 0       # bytes its own streams were given since it was last quiet
        # the last value of each field (or its counter's steps) found to say nothing
        self.judged: dict[tuple[str, ...], bytes] | None = None


class _Across:
    __slots__ = ("info", "site", "name", "parser", "size", "pending", "pending_bytes", "due", "blocked",
                 "t_first", "t_last", "fed")

    def __init__(self, info: FlowInfo, where: str, name: str, size: int, t: float) -> None:
        self.info = info                # the flow that began it: its parser's context, once it has one
        self.site = where
        self.name = name
        self.parser: RawParser | None = None      # made once its values are more than one value
        self.size = size                # bytes of one value
        # values not yet handed to the parser: their packet's number, their flow's time, the value
        self.pending: list[tuple[int, float, bytes]] = []
        self.pending_bytes = 0
        self.due = PENDING              # pending bytes at which they are next handed on
        self.blocked = -1               # the packet number its values waited for when last handed
        self.t_first = self.t_last = t  # when its oldest and newest pending values came
        self.fed = False                # whether its parser got values since it was last quiet


class HeaderFields:
    """The header-field streams of one Engine's flows (see the module docstring)."""

    def __init__(self) -> None:
        self.shared: dict = {}
        self.flows: OrderedDict[str, _Flow] = OrderedDict()      # by last packet, the quietest first
        self.held: OrderedDict[str, _Flow] = OrderedDict()       # those holding records, likewise
        self.across: OrderedDict[tuple[str, str], _Across] = OrderedDict()
        self._next_expiry = 0.0
        self.next_tick = 0.0    # capture time before which ``tick`` has nothing to do
        self.held_bytes = 0     # records held and bytes flows' own streams may hold (``_bound``)
        self.packets = 0        # outbound packets fed: the number of the next
        # by site, the short flows holding records, in the order of their first held record's packet
        self.waiting: dict[str, OrderedDict[str, int]] = {}
        self.own = 0            # flows with streams of their own
        self.last_short: OrderedDict[str, float] = OrderedDict()   # by site, its short flows' last packet (``SITE_GAP``)

    def feed(self, seg: Segment, info: FlowInfo) -> Items:
        """An outbound Segment of the flow ``info`` (its ``head`` set)."""
        out: Items = []
        name = info.flow
        flow = self.flows.get(name)
        number = self.packets
        self.packets += 1
        if flow is None:
            flow = self.flows[name] = _Flow(info, seg.transport)
            if len(self.flows) > MAX_FLOWS:
                self._end(self.flows.popitem(last=False)[1], out)
        else:
            self.flows.move_to_end(name)
        records = flow.records
        if flow.lanes is None and len(flow.numbers) < OWN_STREAM_RECORDS:
            self._site_gap(flow, seg.t, number, out)
            if not flow.numbers:
                self.waiting.setdefault(flow.site, OrderedDict())[name] = number
            flow.numbers.append(number)
            if len(flow.numbers) == OWN_STREAM_RECORDS:      # it will read its fields in streams of its own
                self._unwait(flow)
        head = seg.head
        fixed = FIXED_RECORD.get(seg.transport, V4_HEAD.size)
        if len(head) > fixed:
            flow.options += head[fixed:]
            head = head[:fixed]
        records += head
        records.append(len(seg.data) & 0xFF)
        records.append(round((seg.t - flow.t_last) * 1000) & 0xFF if flow.t_last else 0)
        self.held_bytes += len(seg.head) + 2
        flow.t_last = seg.t
        if len(records) >= FLUSH_RECORDS * (len(head) + 2):
            self._flush(flow, out)
        else:
            self.held[name] = flow
            self.held.move_to_end(name)
            self.next_tick = min(self.next_tick, seg.t + QUIET_S)
        if self.held_bytes > MAX_HELD:
            self._bound(out)
        keyed = KEYED.get(seg.transport)
        if keyed is not None and (seg.transport != "tcp" or seg.flags & (SYN | ACK) == SYN):
            values = keyed_values(seg)
            for field, start, end in keyed:
                self._add_across(flow, field, end - start, values[start:end], seg.t, (number,), out)
        return out

    def tick(self, now: float) -> Items:
        """Capture time ``now``: the records of flows quiet since QUIET_S go on, flows and streams quiet
        since EXPIRE_S end."""
        out: Items = []
        held = self.held
        while held:
            name, flow = next(iter(held.items()))
            if flow.t_last > now - QUIET_S:
                break
            del held[name]
            self._flush(flow, out, quiet_now=True)
        if now >= self._next_expiry:
            self._next_expiry = now + 1.0
            while self.flows:
                name, flow = next(iter(self.flows.items()))
                if flow.t_last > now - EXPIRE_S:
                    break
                del self.flows[name]
                self._end(flow, out)
            for key in [key for key, stream in self.across.items() if stream.t_last <= now - EXPIRE_S]:
                self._end_across(self.across.pop(key), out)
            for stream in self.across.values():
                if stream.t_last <= now - QUIET_S and (stream.pending or stream.fed):
                    self._hand(stream, out, force=stream.t_first <= now - MAX_WAIT)
                    if stream.parser is not None and not stream.pending:
                        out += stream.parser.idle(stream.t_last)
                        stream.fed = False
        self.next_tick = min(self._next_expiry, next(iter(held.values())).t_last + QUIET_S if held else math.inf)
        return out

    def close(self) -> Items:
        """The session ended: everything held goes on, every stream ends."""
        out: Items = []
        while self.flows:
            self._end(self.flows.popitem(last=False)[1], out)
        self.held.clear()
        while self.across:
            self._end_across(self.across.popitem(last=False)[1], out)
        return out

    # ---- a flow's own streams ------------------------------------------------------------------

    def _flush(self, flow: _Flow, out: Items, quiet_now: bool = False, pressed: bool = False) -> None:
        """A flow's records to its own streams, or (a short flow gone quiet) to its site's; a quiet flow's
        streams hand on what they hold.  ``pressed``: held past the bound, the flow reads them in streams of
        its own (its site's would mix them with other flows')."""
        records, options = flow.records, flow.options
        before = len(records) + len(options) + flow.buffered
        if options:
            self._flush_options(flow, out, quiet_now)
        v6 = ":" in flow.info.src
        if records and flow.lanes is None and (
                pressed or len(records) >= OWN_STREAM_RECORDS * record_size(flow.transport, v6)):
            self._own(flow, out)
        if records and (flow.lanes is not None or quiet_now):
            found = columns(records, flow_fields(flow.transport, v6))
            records.clear()
            for name, size, values in found:
                if flow.lanes is None:
                    self._add_across(flow, name, size, values, flow.t_last, flow.numbers, out)
                else:
                    self._lane(flow, (name,), size, values, out)
            self._unwait(flow)
            flow.numbers = array("Q")
        if not (records or options):
            self.held.pop(flow.info.flow, None)
            if quiet_now and flow.lanes:
                for parser in flow.lanes.values():
                    out += parser.idle(flow.t_last)
                flow.buffered = 0
        self.held_bytes += len(records) + len(options) + flow.buffered - before

    def _lane(self, flow: _Flow, key: tuple[str, ...], size: int, values: bytes, out: Items,
              at_once: bool = False) -> None:
        """A field's values (``size`` bytes each) to the flow's stream of it, made once they say something:
        judged on OWN_STREAM_RECORDS values at least (``at_once``: on those there are), or as the next of
        those judged before; a counter's steps go on to a stream of their own likewise."""
        lanes = flow.lanes
        assert lanes is not None
        parser = lanes.get(key)
        if parser is None:
            judged = flow.judged.get(key, b"") if flow.judged is not None else b""
            if key == (GAP[0],) and not judged:
                values = values[1:]     # the first packet's: no packet before it
            if judged or at_once or len(values) >= OWN_STREAM_RECORDS * size:
                both = judged + values
                one_value = both == both[:size] * (len(both) // size)
                steps = None if one_value else counter_steps(both, size)
                if one_value or steps is not None:
                    if flow.judged is None:
                        flow.judged = {}
                    flow.judged[key] = values[-size:]
                    if steps:
                        self._lane(flow, (*key, STEPS), 1, steps, out, at_once=True)
                    return
            parser = lanes[key] = self._parser(flow.info, (flow.transport, *key))
        out += parser.feed("out", values, flow.t_last)
        flow.buffered += len(values)

    def _flush_options(self, flow: _Flow, out: Items, quiet_now: bool) -> None:
        """A flow's option values to a stream of its own once they are OWN_OPTION_BYTES (a SYN's say its
        segment size and window scale), else, once it is quiet, to its site's."""
        options = flow.options
        lanes = flow.lanes if flow.lanes is not None else {}
        parser = lanes.get((OPTIONS,))
        if parser is None and len(options) >= OWN_OPTION_BYTES:
            if flow.lanes is None:
                lanes = self._own(flow, out)
            parser = lanes[(OPTIONS,)] = self._parser(flow.info, (flow.transport, OPTIONS))
        if parser is not None:
            out += parser.feed("out", bytes(options), flow.t_last)
            flow.buffered += len(options)
        elif quiet_now:
            self._add_across(flow, OPTIONS, len(options), bytes(options), flow.t_last,
                             flow.numbers[:1] or (self.packets,), out)
        else:
            return
        options.clear()

    def _own(self, flow: _Flow, out: Items) -> dict[tuple[str, ...], RawParser]:
        """The flow's streams of its own begin; past MAX_OWN flows with theirs, those of the flow quiet
        longest end (handed on: it begins new ones if it goes on)."""
        flow.lanes = {}
        self.own += 1
        if self.own > MAX_OWN:
            for other in self.flows.values():
                if other.lanes is not None and other is not flow:
                    self._end(other, out)
                    break
        return flow.lanes

    def _end(self, flow: _Flow, out: Items) -> None:
        """The flow's streams end: what it holds is handed on."""
        self._flush(flow, out, quiet_now=True)
        if flow.lanes is not None:
            for parser in flow.lanes.values():
                out += parser.close(flow.t_last)
            flow.lanes = None
            self.own -= 1

    def _bound(self, out: Items) -> None:
        """Past MAX_HELD bytes held (records, and what flows' own streams were given since they were last
        quiet), the flows quiet longest hand theirs on as if quiet: a capture whose clock stands still
        makes no flow quiet."""
        for flow in list(self.flows.values()):
            if self.held_bytes <= MAX_HELD // 2:
                break
            if flow.records or flow.options or flow.buffered:
                self._flush(flow, out, quiet_now=True, pressed=True)

    def _parser(self, info: FlowInfo, chain: tuple[str, ...]) -> RawParser:
        app = info.app
        parser = RawParser(FlowContext(flow=info.flow, info=info, shared=self.shared, chain=chain,
                                       channel=info.channel), framed=False)
        info.app = app      # the flow's application is what its own bytes say
        return parser

    # ---- streams across connections ------------------------------------------------------------

    def _site_gap(self, flow: _Flow, t: float, number: int, out: Items) -> None:
        """A short flow's packet: the milliseconds since its site's short flows' packet before, to the site's
        stream of them."""
        before = self.last_short.pop(flow.site, None)
        self.last_short[flow.site] = t
        if before is not None:
            self._add_across(flow, SITE_GAP, 1, bytes((round((t - before) * 1000) & 0xFF,)), t, (number,), out)
        elif len(self.last_short) > MAX_SITES:
            self.last_short.popitem(last=False)

    def _unwait(self, flow: _Flow) -> None:
        """The flow holds no records for its site's streams now (handed on, or bound for its own)."""
        waiting = self.waiting.get(flow.site)
        if waiting is not None and waiting.pop(flow.info.flow, None) is not None and not waiting:
            del self.waiting[flow.site]

    def _add_across(self, flow: _Flow, name: str, size: int, values: bytes, t: float,
                    numbers: array | tuple[int, ...], out: Items) -> None:
        """``values`` of field ``name`` (``size`` bytes each, their packets' ``numbers``) from a connection
        (``flow``) to its site's stream of it."""
        key = (flow.site, name)
        streams = self.across
        stream = streams.get(key)
        if stream is None:
            stream = streams[key] = _Across(flow.info, flow.site, name, size, t)
            if len(streams) > MAX_ACROSS:
                self._end_across(streams.popitem(last=False)[1], out)
        else:
            streams.move_to_end(key)
        if not stream.pending:
            stream.t_first = t
        stream.pending += [(n, t, values[i * size:(i + 1) * size]) for i, n in enumerate(numbers)]
        stream.pending_bytes += len(values)
        stream.t_last = t
        if stream.pending_bytes >= MAX_PENDING or t - stream.t_first > MAX_WAIT:
            self._hand(stream, out, force=True)
        elif stream.pending_bytes >= stream.due or t - stream.t_first > RAW_FLUSH_SECONDS:
            self._hand(stream, out)

    def _hand(self, stream: _Across, out: Items, force: bool = False) -> None:
        """What a stream gathered to its parser, in the order of their packets, up to the first packet of
        a short flow to its site still held (``force``: all), once its values have been more than one
        value (those before are one value: as many of them as the parser's overlap keeps go with it)."""
        pending = stream.pending
        if not pending:
            return
        stream.due = stream.pending_bytes + PENDING      # (what stays is looked at again a batch later)
        waiting = self.waiting.get(stream.site)
        limit = next(iter(waiting.values())) if waiting and not force else -1
        if limit >= 0 and limit == stream.blocked:
            return          # the flow its values wait for is still held
        pending.sort()
        cut = bisect.bisect_left(pending, (limit,)) if limit >= 0 else len(pending)
        stream.blocked = limit if cut < len(pending) else -1
        if not cut:
            return
        handed = pending[:cut]
        del pending[:cut]
        data = b"".join(value for _, _, value in handed)
        stream.pending_bytes -= len(data)
        if stream.parser is None:
            size = stream.size
            if data == data[:size] * (len(data) // size):
                kept = handed[-max(1, PENDING // size):]    # one value so far: as many as the overlap keeps wait
                pending[:0] = kept
                stream.pending_bytes += sum(len(value) for _, _, value in kept)
                stream.t_first = min(t for _, t, _ in pending)
                return
            info = stream.info
            stream.parser = self._parser(info, (info.transport, stream.name, ACROSS))
        if pending:
            stream.t_first = min(t for _, t, _ in pending)
        out += stream.parser.feed("out", data, stream.t_last)
        stream.fed = True

    def _end_across(self, stream: _Across, out: Items) -> None:
        self._hand(stream, out, force=True)
        if stream.parser is not None:
            out += stream.parser.close(stream.t_last)
