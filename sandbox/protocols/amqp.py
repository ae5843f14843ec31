"""AMQP 0-9-1 (RabbitMQ and the brokers that speak it): the messages an instrument publishes, by exchange
and routing key.

Pipelines from instruments to LIMS and analysis clusters pass run data through RabbitMQ.  Such a flow
was raw bytes: a message larger than the connection's frame size is cut into body frames (128 kB each
by RabbitMQ's default), each behind a 7-byte frame header and before a frame-end octet, so a gzip of
reads behind 150 kB of noise published as one message was read to its first frame only, and one
published 4 kB a message had every message's method and content header cut into it: both replayed
clean.  Now frames are read (AMQP 0-9-1 section 4.2.3): a ``basic.publish`` (or, coming in, a
``deliver``, ``return`` or ``get-ok``) and its content header open a message on its channel, the body
frames after them are its body, handed on as it is (``amqp publish <exchange>/<routing key>``, meta
``exchange``, ``routing_key``), a large one in overlapping pieces, the messages of one exchange and key
read one after another as one stream (``pieces.Messages``).  Channels interleave their frames: each
channel's message is its own.  Everything else (methods, content headers with their property tables,
heartbeats, frame headers) is scanned as a stream of its own (``amqp``).  Bytes that break the framing
send the rest of that side raw.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import MAX_LABEL_PATH, FlowContext
from sandbox.protocols.pieces import Message, Messages, Outside
from sandbox.protocols.raw import RawParser
from sandbox.safetext import safe_text

Items = list[Payload | Observation]

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
PORTS = (5672,)                 # 5671 is AMQP in TLS: the TLS parser hands its plaintext on
METHOD, HEADER, BODY, HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE
FRAME_HEADER = 7                # type, channel, size
# A method, content header or heartbeat frame longer than this breaks the framing (RabbitMQ's largest
# frame is 128 KiB unless configured otherwise; body frames are read as they come, of any size)
MAX_FRAME = 1 << 20
MAX_OPEN = 8                    # messages with a body in progress per side (each holds up to a piece)
MAX_CHANNELS = 2048             # channels with a method awaiting its content header, per side
BASIC = 60
# basic's methods that carry content, and where their exchange and routing key start
PUBLISH, RETURN, DELIVER, GET_OK = 40, 50, 60, 71
VERBS = {PUBLISH: "publish", RETURN: "return", DELIVER: "deliver", GET_OK: "get-ok"}
CHANNEL, CLOSE = 20, 40         # channel.close: what the channel had in progress ends
_FRAME = struct.Struct(">BHI")


def _shortstr(data: bytes, at: int) -> tuple[bytes, int]:
    """A short string (a length octet, then its bytes) at ``at``, and the offset after it."""
    if at >= len(data):
        raise ValueError("a method's arguments cut short")
    end = at + 1 + data[at]
    if end > len(data):
        raise ValueError("a method's arguments cut short")
    return data[at + 1: end], end


def content_method(payload: bytes) -> tuple[str, bytes, bytes] | None:
    """(verb, exchange, routing key) of a method frame's payload that content follows, else None."""
    cls, method = struct.unpack_from(">HH", payload)
    if cls != BASIC or method not in VERBS:
        return None
    args = payload[4:]
    if method == PUBLISH:               # ticket, exchange, routing key, bits
        exchange, at = _shortstr(args, 2)
    elif method == RETURN:              # reply code, reply text, exchange, routing key
        _, at = _shortstr(args, 2)
        exchange, at = _shortstr(args, at)
    elif method == DELIVER:             # consumer tag, delivery tag, redelivered, exchange, routing key
        _, at = _shortstr(args, 0)
        exchange, at = _shortstr(args, at + 9)
    else:                               # get-ok: delivery tag, redelivered, exchange, routing key, count
        exchange, at = _shortstr(args, 9)
    key, _ = _shortstr(args, at)
    return VERBS[method], exchange, key


class _Side:
    __slots__ = ("buf", "need", "frame_left", "channel", "end_due", "started", "waiting", "bodies", "raw", "t")

    def __init__(self) -> None:
        self.buf = bytearray()      # bytes of a frame not yet whole (a body frame's: of its header)
        self.need = FRAME_HEADER    # bytes the buffer must hold before it is looked at again
        self.frame_left = 0         # bytes of the body frame in progress still to come
        self.channel = 0            # ... on this channel
        self.end_due = False        # the frame-end octet of that body frame is next
        self.started = False        # the protocol header, or a first frame, came
        self.waiting: dict[int, tuple[str, str, dict]] = {}   # channel -> (key, label, meta) until its content header
        self.bodies: dict[int, Message] = {}                  # channel -> the message whose body is coming
        self.raw = False
        self.t = 0.0


class AmqpParser:
    """An AMQP 0-9-1 connection, either side the client: messages by exchange and routing key, the rest
    scanned as it is."""

    name: ClassVar[str] = "amqp"
    ports: ClassVar[tuple[int, ...]] = PORTS

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return first_out.startswith(PROTOCOL_HEADER) or first_in.startswith(PROTOCOL_HEADER)

    @staticmethod
    def begins(data: bytes) -> bool:
        return data.startswith(PROTOCOL_HEADER)

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        ctx.info.app = "amqp"
        self.sides = {"out": _Side(), "in": _Side()}
        self.other = Outside(ctx, "amqp")
        self.messages = Messages(ctx)
        self.raw = RawParser(ctx)
        self.out: Items = []

    # ---- parser interface ----

    def feed(self, direction: str, data: bytes, t: float) -> Items:
        side = self.sides[direction]
        if side.raw:
            return self.raw.feed(direction, data, t)
        side.t = t
        if side.frame_left and not side.buf:               # a body frame's bytes: taken without copying them twice
            taken = min(side.frame_left, len(data))
            self._body(direction, side, data[:taken], t)
            data = data[taken:]
        side.buf += data
        if len(side.buf) >= side.need:
            try:
                self._frames(direction, side, t)
            except (ValueError, struct.error) as exc:
                self._to_raw(direction, side, f"amqp {direction}: {exc}; the rest of this side is scanned raw", t)
        return self._take()

    def gap(self, direction: str, size: int) -> Items:
        side = self.sides[direction]
        message = side.bodies.get(side.channel) if side.frame_left else None
        if not side.raw and message is not None and not side.buf and size < side.frame_left:
            self.out += self.messages.hole(direction, message, size)    # a hole inside a body frame: framing survives
            side.frame_left -= size
            return self._take()
        if not side.raw:
            self._to_raw(direction, side, f"amqp {direction}: a gap of {size} bytes; the rest of this side is "
                                          "scanned raw", side.t)
        return self._take() + self.raw.gap(direction, size)

    def idle(self, t: float) -> Items:
        """The connection went quiet: what is held (other bytes, short messages to join) goes out."""
        self.out += self.other.flush()
        self.out += self.messages.idle()
        return self._take() + self.raw.idle(t)

    def close(self, t: float) -> Items:
        for direction, side in self.sides.items():
            self._end_bodies(direction, side)
            if side.buf and not side.raw:
                self._other(direction, side.buf, side.t)
                side.buf.clear()
        self.out += self.other.flush()
        self.out += self.messages.close()
        return self._take() + self.raw.close(t)

    # ---- framing ----

    def _frames(self, direction: str, side: _Side, t: float) -> None:
        """Take the whole frames and the heads of body frames the buffer holds."""
        buf = side.buf
        view = memoryview(buf)
        at = 0
        try:
            while at < len(buf):
                if side.frame_left:                         # body bytes after a frame header in the same buffer
                    taken = min(side.frame_left, len(buf) - at)
                    self._body(direction, side, bytes(view[at: at + taken]), t)
                    at += taken
                    continue
                if side.end_due:
                    if buf[at] != FRAME_END:
                        raise ValueError(f"a body frame ends with {buf[at]:#04x}, not the frame-end octet")
                    self._other(direction, bytes(view[at: at + 1]), t)
                    side.end_due = False
                    at += 1
                    continue
                if not side.started and buf[at: at + 4] == PROTOCOL_HEADER[:4]:
                    if len(buf) - at < len(PROTOCOL_HEADER):
                        side.need = len(buf) - at + 1
                        break
                    self._other(direction, bytes(view[at: at + len(PROTOCOL_HEADER)]), t)
                    side.started = True
                    at += len(PROTOCOL_HEADER)
                    continue
                if len(buf) - at < FRAME_HEADER:
                    side.need = FRAME_HEADER
                    break
                kind, channel, size = _FRAME.unpack_from(buf, at)
                side.started = True
                if kind == BODY:
                    self._other(direction, bytes(view[at: at + FRAME_HEADER]), t)
                    at += FRAME_HEADER
                    side.channel, side.frame_left, side.end_due = channel, size, True
                    message = side.bodies.get(channel)
                    if message is not None and size > message.left:
                        raise ValueError(f"a body frame of {size} bytes, {message.left} due")
                    continue
                if kind not in (METHOD, HEADER, HEARTBEAT):
                    raise ValueError(f"a frame of type {kind}")
                if size > MAX_FRAME:
                    raise ValueError(f"a frame of type {kind} of {size} bytes")
                end = at + FRAME_HEADER + size
                if len(buf) <= end:
                    side.need = end - at + 1
                    break
                if buf[end] != FRAME_END:
                    raise ValueError(f"a frame ends with {buf[end]:#04x}, not the frame-end octet")
                payload = bytes(view[at + FRAME_HEADER: end])
                if kind == METHOD:
                    self._method(direction, side, channel, payload)
                elif kind == HEADER:
                    self._content_header(side, channel, payload, t)
                self._other(direction, bytes(view[at: end + 1]), t)
                at = end + 1
            else:
                side.need = FRAME_HEADER
        finally:
            view.release()
            del buf[:at]
        if (side.frame_left or side.end_due) and not buf:
            side.need = 1

    def _method(self, direction: str, side: _Side, channel: int, payload: bytes) -> None:
        if len(payload) < 4:
            raise ValueError("a method frame shorter than its class and method")
        if struct.unpack_from(">HH", payload) in ((CHANNEL, CLOSE), (CHANNEL, CLOSE + 1)):
            side.waiting.pop(channel, None)
            message = side.bodies.pop(channel, None)
            if message is not None:
                message.meta["truncated"] = True
                self.out += self.messages.emit(direction, message, last=True)
            return
        found = content_method(payload)
        if found is None:
            return
        verb, exchange, key = found
        names = safe_text(f"{exchange.decode('utf-8', 'replace')}/{key.decode('utf-8', 'replace')}", MAX_LABEL_PATH)
        meta = {"exchange": safe_text(exchange.decode("utf-8", "replace")),
                "routing_key": safe_text(key.decode("utf-8", "replace"))}
        side.waiting.pop(channel, None)
        if len(side.waiting) >= MAX_CHANNELS:
            del side.waiting[next(iter(side.waiting))]
        side.waiting[channel] = (names, f"amqp {verb} {names}", meta)

    def _content_header(self, side: _Side, channel: int, payload: bytes, t: float) -> None:
        """A content header: the message its method announced has a body of the size it gives."""
        if len(payload) < 14:
            raise ValueError("a content header shorter than its fixed fields")
        announced = side.waiting.pop(channel, None)
        size = int.from_bytes(payload[4:12], "big")
        if announced is None or not size or channel in side.bodies or len(side.bodies) >= MAX_OPEN:
            return                      # its body frames are scanned with the other bytes
        key, label, meta = announced
        side.bodies[channel] = Message(key, label, meta, size, t)

    # ---- what is handed on ----

    def _body(self, direction: str, side: _Side, data: bytes, t: float) -> None:
        side.frame_left -= len(data)
        message = side.bodies.get(side.channel)
        if message is None:
            self._other(direction, data, t)
            return
        self.out += self.messages.add(direction, message, data, t)
        if not message.left:
            del side.bodies[side.channel]

    def _end_bodies(self, direction: str, side: _Side) -> None:
        """Messages cut short (the flow ended, or went raw): what came of them is still read."""
        for message in side.bodies.values():
            message.meta["truncated"] = True
            self.out += self.messages.emit(direction, message, last=True)
        side.bodies.clear()
        side.frame_left = 0

    def _other(self, direction: str, data: bytes | bytearray, t: float) -> None:
        self.out += self.other.add(direction, data, t)

    def _to_raw(self, direction: str, side: _Side, reason: str, t: float) -> None:
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
