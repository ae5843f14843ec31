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

from sandbox.protocols.context import MAX_LABEL_PATH, FlowContext
from sandbox.protocols.pieces import InterleavedParser, InterleavedSide, Message
from sandbox.safetext import safe_text

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


class _Side(InterleavedSide):
    __slots__ = ("end_due", "started", "waiting")

    def __init__(self) -> None:
        super().__init__(FRAME_HEADER)
        self.end_due = False        # the frame-end octet of that body frame is next
        self.started = False        # the protocol header, or a first frame, came
        self.waiting: dict[int, tuple[str, str, dict]] = {}   # channel -> (key, label, meta) until its content header


class AmqpParser(InterleavedParser):
    """An AMQP 0-9-1 connection, either side the client: messages by exchange and routing key, the rest
    scanned as it is."""

    name: ClassVar[str] = "amqp"
    ports: ClassVar[tuple[int, ...]] = PORTS
    HEAD_MIN: ClassVar[int] = FRAME_HEADER

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return first_out.startswith(PROTOCOL_HEADER) or first_in.startswith(PROTOCOL_HEADER)

    @staticmethod
    def begins(data: bytes) -> bool:
        return data.startswith(PROTOCOL_HEADER)

    def __init__(self, ctx: FlowContext) -> None:
        super().__init__(ctx, {"out": _Side(), "in": _Side()})
        ctx.info.app = "amqp"

    # ---- framing ----

    def _frame(self, direction: str, side: _Side, view: memoryview, at: int, t: float) -> int | None:
        buf = side.buf
        if side.end_due:
            if buf[at] != FRAME_END:
                raise ValueError(f"a body frame ends with {buf[at]:#04x}, not the frame-end octet")
            self._other(direction, bytes(view[at: at + 1]), t)
            side.end_due = False
            return at + 1
        if not side.started and buf[at: at + 4] == PROTOCOL_HEADER[:4]:
            if len(buf) - at < len(PROTOCOL_HEADER):
                side.need = len(buf) - at + 1
                return None
            self._other(direction, bytes(view[at: at + len(PROTOCOL_HEADER)]), t)
            side.started = True
            return at + len(PROTOCOL_HEADER)
        if len(buf) - at < FRAME_HEADER:
            side.need = FRAME_HEADER
            return None
        kind, channel, size = _FRAME.unpack_from(buf, at)
        side.started = True
        if kind == BODY:
            message = side.bodies.get(channel)
            if message is not None and size > message.left:
                raise ValueError(f"a body frame of {size} bytes, {message.left} due")
            self._other(direction, bytes(view[at: at + FRAME_HEADER]), t)
            side.current, side.frame_left, side.end_due = channel, size, True
            return at + FRAME_HEADER
        if kind not in (METHOD, HEADER, HEARTBEAT):
            raise ValueError(f"a frame of type {kind}")
        if size > MAX_FRAME:
            raise ValueError(f"a frame of type {kind} of {size} bytes")
        end = at + FRAME_HEADER + size
        if len(buf) <= end:
            side.need = end - at + 1
            return None
        if buf[end] != FRAME_END:
            raise ValueError(f"a frame ends with {buf[end]:#04x}, not the frame-end octet")
        payload = bytes(view[at + FRAME_HEADER: end])
        if kind == METHOD:
            self._method(direction, side, channel, payload, t)
        elif kind == HEADER:
            self._content_header(side, channel, payload, t)
        self._other(direction, bytes(view[at: end + 1]), t)
        return end + 1

    def _method(self, direction: str, side: _Side, channel: int, payload: bytes, t: float) -> None:
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
        self.out += self.names.take(f"amqp {verb}", [("exchange", exchange), ("routing key", key)], direction, t)
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
