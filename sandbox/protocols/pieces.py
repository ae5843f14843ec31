"""A stream handed on in bounded pieces that overlap where one continues the one before.

Parsers that take a file or a message stream apart from their protocol's framing (SMB's writes, MQTT's
and AMQP's publishes) hand on two kinds of bytes: a file's (or a topic's) pieces, joined while they
come in order, and everything else the protocol carries (headers, names, properties), scanned as a
stream of its own.  Both are cut into pieces the same way.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar, NamedTuple

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import RAW_OVERLAP, Held, MessageStreams
from sandbox.protocols.headvalues import HeadValues
from sandbox.protocols.raw import RAW_CHUNK, RAW_FLUSH_SECONDS, RawParser

Items = list[Payload | Observation]


class Piece(NamedTuple):
    key: Any            # (verb, file name) of a file's bytes; None for the messages' other bytes
    at: int             # file offset of data[0]
    data: bytes
    repeated: int       # how many of the first bytes the piece before ended with
    t_first: float
    t_last: float


class Pieces:
    """One stream handed on in pieces of at most ``size`` bytes: a file's bytes written in order (``key``
    its name, ``at`` the offset), or a protocol's bytes outside its files and messages.  A piece that continues the one before
    starts with that one's last RAW_OVERLAP bytes, so what straddles the cut is whole in one."""

    __slots__ = ("buf", "key", "at", "next", "tail", "t_first", "t_last", "size")

    def __init__(self, size: int) -> None:
        self.buf = bytearray()
        self.key: Any = None
        self.at = 0            # file offset of buf[0]
        self.next = 0          # file offset after buf
        self.tail = b""
        self.t_first = self.t_last = 0.0
        self.size = size

    def add(self, key: Any, at: int, data: bytes | memoryview, t: float) -> list[Piece]:
        out: list[Piece] = []
        continues = key == self.key and at == self.next
        if self.buf and (not continues or t - self.t_first > RAW_FLUSH_SECONDS):
            out += self.flush()
        if not continues:
            self.tail = b""
        if not self.buf:
            self.key, self.at, self.t_first = key, at, t
        self.t_last = t
        view = memoryview(data)
        while view:
            take = min(len(view), self.size - len(self.buf))
            self.buf += view[:take]
            view = view[take:]
            self.next = self.at + len(self.buf)
            if len(self.buf) >= self.size:
                out += self.flush()
                self.t_first = t
        return out

    def flush(self) -> list[Piece]:
        if not self.buf:
            return []
        data = self.tail + bytes(self.buf)
        piece = Piece(self.key, self.at - len(self.tail), data, len(self.tail), self.t_first, self.t_last)
        self.tail = data[-RAW_OVERLAP:]
        self.buf.clear()
        self.at = self.next
        self.t_first = self.t_last
        return [piece]


MESSAGE_PIECE = 1 << 20         # bytes of one message handed on at once
# Bytes the messages in progress of all a Dissector's flows may hold (thousands of connections, each with
# messages short of a piece); past it each message's bytes go out as they come
MAX_MESSAGES_HELD = 64 << 20
MESSAGES_HELD = "message bytes held"   # key in the Dissector's ``shared`` of that count


class Message:
    """A message whose body is coming (an MQTT PUBLISH, an AMQP publish's content): its key (the topic,
    the exchange and routing key), labels, meta, and what came of it not yet handed on."""

    __slots__ = ("key", "label", "meta", "left", "more", "buf", "tail", "pieces", "t_first", "t_last")

    def __init__(self, key: str, label: str, meta: dict[str, Any], size: int, t: float, more: bool = False) -> None:
        self.key = key              # made safe by the parser: it is in labels and meta
        self.label = label
        self.meta = meta
        self.left = size            # body bytes still to come (of those announced so far)
        self.more = more            # more will be announced (AMQP 1.0's transfers of one delivery)
        self.buf = bytearray()
        self.tail = b""             # the last RAW_OVERLAP bytes of the piece before
        self.pieces = 0
        self.t_first = self.t_last = t


class Messages:
    """A flow's messages by key: each body handed on as it is, a large one in pieces of MESSAGE_PIECE
    that overlap; the outbound messages of a key read one after another as one stream (a compressed
    stream followed across them, short ones also read joined: ``follow.MessageStreams``)."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.streams = MessageStreams(ctx)
        self.held: Held = ctx.shared.setdefault(MESSAGES_HELD, Held())   # bytes every flow's messages hold

    def add(self, direction: str, message: Message, data: bytes, t: float) -> Items:
        """The next bytes of ``message``'s body (at most ``message.left``): its pieces, and all of it
        once the last byte came."""
        out: Items = []
        message.left -= len(data)
        message.t_last = t
        view = memoryview(data)
        going = message.left or message.more
        while len(message.buf) + len(view) > MESSAGE_PIECE or (going and len(message.buf) + len(view) == MESSAGE_PIECE):
            room = MESSAGE_PIECE - len(message.buf)
            message.buf += view[:room]
            self.held.bytes += len(view[:room])
            view = view[room:]
            out += self.emit(direction, message, last=False)
        message.buf += view
        self.held.bytes += len(view)
        if not going or self.held.bytes > MAX_MESSAGES_HELD:    # held past the bound: a piece goes out now
            out += self.emit(direction, message, last=not going)
        return out

    def emit(self, direction: str, message: Message, last: bool, hole: int = 0) -> Items:
        """What came of ``message`` since its last piece (``last``: its end, or all that will come)."""
        data = bytes(message.buf)
        self.held.bytes -= len(data)
        message.buf.clear()
        if not data:
            return []
        meta = dict(message.meta)
        if message.pieces or not last:
            meta["piece"] = message.pieces
        if hole:
            meta["gap_after"] = hole
        piece = message.tail + data
        out: Items = [self.ctx.payload(piece, message.label, direction, message.t_first, message.t_last,
                                       meta=meta, repeated=len(message.tail))]
        out += self.streams.follow(message.key, data, direction, (message.label,), message.t_first,
                                   message.t_last, meta)
        message.tail = b"" if last else piece[-RAW_OVERLAP:]
        message.pieces += 1
        message.t_first = message.t_last
        return out

    def hole(self, direction: str, message: Message, size: int) -> Items:
        """``size`` bytes of ``message``'s body were lost (fewer than it has left): what came goes out,
        and its key's stream ends there."""
        out = self.emit(direction, message, last=False, hole=size)
        message.left -= size
        message.tail = b""
        return out + self.streams.close(message.key)

    def idle(self) -> Items:
        """Short messages held to be read joined go out."""
        return self.streams.idle()

    def close(self) -> Items:
        return self.streams.close()


class Outside:
    """A protocol's bytes outside its messages (headers, names, properties), each way, scanned as a
    stream of their own in pieces of RAW_CHUNK labelled ``label``."""

    def __init__(self, ctx: FlowContext, label: str) -> None:
        self.ctx = ctx
        self.label = label
        self.pieces = {d: Pieces(RAW_CHUNK) for d in ("out", "in")}

    def add(self, direction: str, data: bytes | bytearray, t: float) -> Items:
        if not data:
            return []
        pieces = self.pieces[direction]
        return self._hand_on(direction, pieces.add(None, pieces.next, data, t))

    def flush(self, *directions: str) -> Items:
        """What is held of ``directions`` (both when none is given) goes out."""
        return [item for d in directions or ("out", "in") for item in self._hand_on(d, self.pieces[d].flush())]

    def _hand_on(self, direction: str, pieces: list[Piece]) -> Items:
        return [self.ctx.payload(p.data, self.label, direction, p.t_first, p.t_last, stream_offset=p.at,
                                 repeated=p.repeated) for p in pieces]


class FramedSide:
    """One side of a framed connection: the bytes of a frame not yet whole, how many the buffer must hold
    before it is looked at again, and whether the framing broke (the rest read raw)."""

    __slots__ = ("buf", "need", "raw", "t", "message")

    def __init__(self, need: int) -> None:
        self.buf = bytearray()
        self.need = need
        self.raw = False
        self.t = 0.0
        self.message: Message | None = None    # the message whose body is coming (one at a time)


class FramedParser:
    """What the parsers of framed message protocols share (MQTT, AMQP): each side's frames taken as they
    come, a message body's bytes handed to ``messages`` without being copied twice, the bytes outside
    messages scanned as a stream of their own (``other``, labelled with the parser's name), a side
    whose framing breaks (a ValueError of ``_frame``, a hole outside a body) read raw from there.

    A protocol says ``_frame`` (take the frame at an offset, and set ``side.message`` where a body
    follows); one with several bodies in progress at once, a frame at a time, is an
    ``InterleavedParser`` (AMQP's channels, AMQP 1.0's deliveries)."""

    name: ClassVar[str]
    HEAD_MIN: ClassVar[int]     # bytes of the shortest frame head

    def __init__(self, ctx: FlowContext, sides: dict[str, Any]) -> None:
        self.ctx = ctx
        self.sides = sides
        self.other = Outside(ctx, self.name)
        self.messages = Messages(ctx)
        self.names = HeadValues(ctx)      # where messages go (topics, routing keys): data a name at a time
        self.raw = RawParser(ctx)
        self.out: Items = []

    def _body_left(self, side: Any) -> int:
        return side.message.left if side.message is not None else 0

    def _body(self, direction: str, side: Any, data: bytes, t: float) -> None:
        self.out += self.messages.add(direction, side.message, data, t)
        if not side.message.left:
            side.message = None

    def _frame(self, direction: str, side: Any, view: memoryview, at: int, t: float) -> int | None:
        """Take the frame (or a body's head) at ``at``: where the next begins, or None when the buffer
        holds too little (``side.need`` set); ValueError when the framing breaks."""
        raise NotImplementedError

    def _hole(self, direction: str, side: Any, size: int) -> bool:
        if side.message is None or size >= side.message.left:
            return False
        self.out += self.messages.hole(direction, side.message, size)    # inside a body: framing survives
        return True

    def _end_bodies(self, direction: str, side: Any) -> None:
        if side.message is not None:                 # a body cut short: what came is still read
            side.message.meta["truncated"] = True
            self.out += self.messages.emit(direction, side.message, last=True)
            side.message = None

    # ---- parser interface ----

    def feed(self, direction: str, data: bytes, t: float) -> Items:
        side = self.sides[direction]
        if side.raw:
            return self.raw.feed(direction, data, t)
        side.t = t
        left = self._body_left(side)
        if left and not side.buf:                      # a body's bytes: taken without copying them twice
            self._body(direction, side, data[:left], t)
            data = data[left:]
        side.buf += data
        if len(side.buf) >= side.need:
            try:
                self._frames(direction, side, t)
            except (ValueError, struct.error, IndexError) as exc:     # (a field read past a frame's bytes)
                self._to_raw(direction, side, f"{self.name} {direction}: {exc}; the rest of this side is scanned raw", t)
        return self._take()

    def gap(self, direction: str, size: int) -> Items:
        side = self.sides[direction]
        if not side.raw and not side.buf and self._hole(direction, side, size):
            return self._take()
        if not side.raw:
            self._to_raw(direction, side, f"{self.name} {direction}: a gap of {size} bytes; the rest of this side "
                                          "is scanned raw", side.t)
        return self._take() + self.raw.gap(direction, size)

    def idle(self, t: float) -> Items:
        """The connection went quiet: what is held (other bytes, short messages to join) goes out."""
        self.out += self.other.flush() + self.messages.idle() + self.names.idle()
        return self._take() + self.raw.idle(t)

    def close(self, t: float) -> Items:
        for direction, side in self.sides.items():
            self._end_bodies(direction, side)
            if side.buf and not side.raw:                # a frame cut short: what came is still scanned
                self._other(direction, side.buf, side.t)
                side.buf.clear()
        self.out += self.other.flush() + self.messages.close() + self.names.close()
        return self._take() + self.raw.close(t)

    # ---- shared ----

    def _frames(self, direction: str, side: Any, t: float) -> None:
        """Take the whole frames, and the bodies' bytes, the buffer holds."""
        buf = side.buf
        view = memoryview(buf)
        at = 0
        try:
            while at < len(buf):
                left = self._body_left(side)
                if left:                                 # body bytes after a head in the same buffer
                    taken = min(left, len(buf) - at)
                    self._body(direction, side, bytes(view[at: at + taken]), t)
                    at += taken
                    continue
                after = self._frame(direction, side, view, at, t)
                if after is None:
                    break
                at = after
            else:
                side.need = self.HEAD_MIN
        finally:
            view.release()
            del buf[:at]

    def _other(self, direction: str, data: bytes | bytearray, t: float) -> None:
        self.out += self.other.add(direction, data, t)

    def _to_raw(self, direction: str, side: Any, reason: str, t: float) -> None:
        """Framing broken: what the side holds and all that comes after is scanned raw."""
        self.ctx.error(reason)
        side.raw = True
        self._end_bodies(direction, side)
        self.out += self.other.flush(direction)
        held = bytes(side.buf)
        side.buf.clear()
        if held:
            self.out += self.raw.feed(direction, held, t)

    def _take(self) -> Items:
        out, self.out = self.out, []
        return out


class InterleavedSide(FramedSide):
    """A side whose bodies come several at once, a frame at a time (AMQP's channels, AMQP 1.0's
    deliveries): the bodies in progress by their channel, and the frame whose payload is coming."""

    __slots__ = ("bodies", "current", "frame_left")

    def __init__(self, need: int) -> None:
        super().__init__(need)
        self.bodies: dict[Any, Message] = {}   # channel (or delivery) -> the message whose body is coming
        self.current: Any = None               # the channel of the frame in progress ...
        self.frame_left = 0                    # ... and how many of its payload bytes are still to come


class InterleavedParser(FramedParser):
    """A framed parser whose bodies come several at once, each in frames of its channel."""

    def _body_left(self, side: Any) -> int:
        return side.frame_left

    def _body(self, direction: str, side: Any, data: bytes, t: float) -> None:
        side.frame_left -= len(data)
        message = side.bodies.get(side.current)
        if message is None:                          # content nothing announced: scanned as it is
            self._other(direction, data, t)
            return
        self.out += self.messages.add(direction, message, data, t)
        if not message.left and not message.more:
            del side.bodies[side.current]

    def _hole(self, direction: str, side: Any, size: int) -> bool:
        message = side.bodies.get(side.current) if side.frame_left else None
        if message is None or size >= side.frame_left:
            return False
        self.out += self.messages.hole(direction, message, size)   # inside a frame's payload: framing survives
        side.frame_left -= size
        return True

    def _end_bodies(self, direction: str, side: Any) -> None:
        """Messages cut short (the flow ended, or went raw): what came of them is still read."""
        for message in side.bodies.values():
            message.meta["truncated"] = True
            self.out += self.messages.emit(direction, message, last=True)
        side.bodies.clear()
        side.frame_left = 0
