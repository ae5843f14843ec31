"""AMQP 1.0 (Azure Service Bus, Event Hubs and IoT Hub, ActiveMQ, Qpid, RabbitMQ's plugin): the messages an
instrument sends on its links, by the link's target address.

AMQP 1.0 is another protocol than 0-9-1: frames (size, data offset, type, channel) carry performatives
in AMQP's own type system, and a message is the payload of one or more ``transfer`` frames after the
performative (``more`` says another transfer of the same delivery follows; the sender's frame size,
often 32 kB to 256 kB, cuts a large one).  Read raw, the frame headers and performatives cut a
compressed message every frame.  Now frames are read: an ``attach`` names a link's target address, the
payloads of a delivery's transfers are joined into its message (``amqp1 transfer <address>``, meta
``address``), the contents of its data section handed on (the sections before it scanned with the
other bytes; a large message in overlapping pieces) and read with the link's other messages as one
stream (``pieces.Messages``: an SDK that sends a file an event at a time); every other byte (SASL's mechanisms and credentials,
open, begin, flow, dispositions, the performatives) is scanned as a stream of its own (``amqp1``).  A
connection that turns to TLS inside (protocol id 2) is read raw from there.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from sandbox.protocols.context import MAX_LABEL_PATH, FlowContext
from sandbox.protocols.pieces import InterleavedParser, InterleavedSide, Message
from sandbox.safetext import safe_text

PORTS = (5672,)
HEADER = b"AMQP"
AMQP, TLS, SASL = 0, 2, 3       # protocol ids of the protocol header
FRAME_HEAD = 8                  # size, data offset, type, channel
ATTACH, TRANSFER = 0x12, 0x14
SASL_OUTCOME = 0x44
PERFORMATIVE_HEAD = 19          # a descriptor (up to 10 bytes) and a list's header (up to 9)
BEFORE_DATA = frozenset(range(0x70, 0x75))   # header, annotations, properties, application properties
DATA = 0x75
PREFIX_PEEK = 256               # bytes of a delivery's first transfer looked at for its data section ...
MAX_PREFIX = 64 * 1024          # ... or, when the sections before it are longer, at most these
MAX_PERFORMATIVE = 1 << 20      # a frame body other than a transfer's payload, longer than this, breaks the framing
MAX_OPEN = 8                    # deliveries with a message in progress per side
MAX_LINKS = 4096                # link handles remembered per side
_U32 = struct.Struct(">I")
# bytes after the constructor of AMQP's fixed-width types
_FIXED = {0x40: 0, 0x41: 0, 0x42: 0, 0x43: 0, 0x44: 0, 0x45: 0, 0x50: 1, 0x51: 1, 0x52: 1, 0x53: 1, 0x54: 1,
          0x55: 1, 0x56: 1, 0x60: 2, 0x61: 2, 0x70: 4, 0x71: 4, 0x72: 4, 0x73: 4, 0x74: 4, 0x80: 8, 0x81: 8,
          0x82: 8, 0x83: 8, 0x84: 8, 0x94: 16, 0x98: 16}
_SIZE8 = frozenset((0xA0, 0xA1, 0xA3, 0xC0, 0xC1, 0xE0))
_SIZE32 = frozenset((0xB0, 0xB1, 0xB3, 0xD0, 0xD1, 0xF0))


def protocol_header(data: bytes) -> int | None:
    """The protocol id of an AMQP 1.0 protocol header at the start of ``data`` (None if it is none)."""
    if len(data) >= 8 and data[:4] == HEADER and data[4] in (AMQP, TLS, SASL) and data[5:8] == b"\x01\x00\x00":
        return data[4]
    return None


def skip(data: bytes, at: int) -> int:
    """Where the encoded value at ``at`` ends (ValueError when it is no value of AMQP's type system)."""
    code = data[at]
    if code == 0x00:                                     # a described value: descriptor, then value
        return skip(data, skip(data, at + 1))
    if code in _FIXED:
        return at + 1 + _FIXED[code]
    if code in _SIZE8:
        return at + 2 + data[at + 1]
    if code in _SIZE32:
        return at + 5 + _U32.unpack_from(data, at + 1)[0]
    raise ValueError(f"no AMQP type has the constructor {code:#04x}")


def fields(data: bytes, at: int) -> tuple[list[int], int]:
    """The offsets of a described list's fields (a performative at ``at``) and where the list ends."""
    at = skip(data, at + 1) if data[at] == 0x00 else at  # past the descriptor
    code = data[at]
    if code == 0x45:
        return [], at + 1
    if code == 0xC0:
        end, count, item = at + 2 + data[at + 1], data[at + 2], at + 3
    elif code == 0xD0:
        end, count, item = at + 5 + _U32.unpack_from(data, at + 1)[0], _U32.unpack_from(data, at + 5)[0], at + 9
    else:
        raise ValueError(f"a performative that is no list ({code:#04x})")
    offsets = []
    for _ in range(min(count, 16)):                      # the performatives' fields this parser reads come first
        if item >= end:
            raise ValueError("a list's fields run past its size")
        offsets.append(item)
        item = skip(data, item)
    return offsets, end


def unsigned(data: bytes, at: int) -> int | None:
    code = data[at]
    if code in (0x40, 0x43, 0x44):
        return None if code == 0x40 else 0
    if code in (0x52, 0x53, 0x50):
        return data[at + 1]
    if code in (0x70, 0x80):
        return int.from_bytes(data[at + 1: at + 1 + _FIXED[code]], "big")
    return None


def text(data: bytes, at: int) -> str:
    code = data[at]
    if code in (0xA1, 0xA3):
        return data[at + 2: at + 2 + data[at + 1]].decode("utf-8", "replace")
    if code in (0xB1, 0xB3):
        return data[at + 5: at + 5 + _U32.unpack_from(data, at + 1)[0]].decode("utf-8", "replace")
    return ""


def list_end(data: bytes, at: int) -> int:
    """Where the described list at ``at`` ends, from its descriptor and list header alone (the first
    PERFORMATIVE_HEAD bytes)."""
    at = skip(data, at + 1) if data[at] == 0x00 else at
    code = data[at]
    if code == 0x45:
        return at + 1
    if code == 0xC0:
        return at + 2 + data[at + 1]
    if code == 0xD0:
        return at + 5 + _U32.unpack_from(data, at + 1)[0]
    raise ValueError(f"a performative that is no list ({code:#04x})")


def data_start(message: bytes) -> int:
    """Where the contents of a message's first data section start, past the sections before it (header,
    annotations, properties, application properties); 0 when it has none there (what a transfer carries
    is then the message's as it is), -1 when they run past the bytes of ``message`` given."""
    at = 0
    try:
        while at < len(message) and message[at] == 0x00:
            section = descriptor(message, at)
            if section == DATA and message[at + 1] == 0x53:
                code = message[at + 3]
                start = at + 5 if code == 0xA0 else at + 8 if code == 0xB0 else 0
                return start if start <= len(message) else -1
            if section not in BEFORE_DATA:
                return 0
            at = skip(message, at)
    except (IndexError, struct.error):
        return -1
    except ValueError:
        return 0
    return -1 if at >= len(message) and message else 0


def descriptor(data: bytes, at: int) -> int | None:
    """A described value's numeric descriptor (a performative's code)."""
    if data[at] != 0x00:
        return None
    return unsigned(data, at + 1)


class _Side(InterleavedSide):
    __slots__ = ("expect_header", "links")

    def __init__(self) -> None:
        super().__init__(FRAME_HEAD)
        self.expect_header = True      # a protocol header comes next (first, and after SASL's outcome)
        self.links: dict[tuple[int, int], str] = {}    # (channel, handle) -> the link's target address


class Amqp10Parser(InterleavedParser):
    """An AMQP 1.0 connection, either side the sender: messages by link, the rest scanned as it is."""

    name: ClassVar[str] = "amqp1"
    ports: ClassVar[tuple[int, ...]] = PORTS
    HEAD_MIN: ClassVar[int] = FRAME_HEAD

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return protocol_header(first_out) is not None or protocol_header(first_in) is not None

    @staticmethod
    def begins(data: bytes) -> bool:
        return protocol_header(data) is not None

    def __init__(self, ctx: FlowContext) -> None:
        super().__init__(ctx, {"out": _Side(), "in": _Side()})
        ctx.info.app = "amqp1"

    def _frame(self, direction: str, side: _Side, view: memoryview, at: int, t: float) -> int | None:
        buf = side.buf
        if side.expect_header:                              # first, and again after SASL's outcome
            if len(buf) - at < 8:
                side.need = 8
                return None
            kind = protocol_header(bytes(buf[at: at + 8]))
            side.expect_header = False
            if kind is not None:
                self._other(direction, bytes(view[at: at + 8]), t)
                if kind == TLS:
                    raise ValueError("the connection turned to TLS")
                return at + 8
        if len(buf) - at < FRAME_HEAD:
            side.need = FRAME_HEAD
            return None
        size, doff, kind, channel = struct.unpack_from(">IBBH", buf, at)
        if size < FRAME_HEAD or doff < 2 or doff * 4 > size or kind not in (0, 1):
            raise ValueError(f"a frame of size {size}, data offset {doff}, type {kind}")
        body = at + doff * 4
        if size == doff * 4:                               # an empty frame: a heartbeat
            if len(buf) - at < size:
                side.need = size
                return None
            self._other(direction, bytes(view[at: at + size]), t)
            return at + size
        if len(buf) - body < min(PERFORMATIVE_HEAD, size - doff * 4):
            side.need = min(doff * 4 + PERFORMATIVE_HEAD, size)
            return None
        if kind == 0 and descriptor(buf, body) == TRANSFER:
            return self._transfer(direction, side, view, at, size, body, channel, t)
        if size > MAX_PERFORMATIVE:
            raise ValueError(f"a frame of {size} bytes that is no transfer")
        if len(buf) - at < size:
            side.need = size
            return None
        frame = bytes(view[at: at + size])
        performative = descriptor(frame, doff * 4)
        if kind == 1 and performative == SASL_OUTCOME:    # a protocol header follows, each way
            for s in self.sides.values():
                s.expect_header = True
        elif kind == 0 and performative == ATTACH:
            address = self._attach(side, channel, frame, doff * 4)
            self.out += self.names.take("amqp1 attach", [("address", address.encode())], direction, t)
        self._other(direction, frame, t)
        return at + size

    def _attach(self, side: _Side, channel: int, frame: bytes, body: int) -> str:
        """An attach: the link's handle and target address (its name when it has none), the address
        returned as it came."""
        offsets, _ = fields(frame, body)
        if len(offsets) < 2:
            raise ValueError("an attach without a handle")
        handle = unsigned(frame, offsets[1])
        address = text(frame, offsets[0])
        if len(offsets) > 6 and descriptor(frame, offsets[6]) == 0x29:     # target: its address first
            target, _ = fields(frame, offsets[6])
            address = (text(frame, target[0]) if target else "") or address
        if handle is not None:
            side.links.pop((channel, handle), None)
            side.links[(channel, handle)] = safe_text(address, MAX_LABEL_PATH)
            if len(side.links) > MAX_LINKS:
                del side.links[next(iter(side.links))]
        return address

    def _transfer(self, direction: str, side: _Side, view: memoryview, at: int, size: int, body: int,
                  channel: int, t: float) -> int | None:
        """A transfer frame's head (its performative): the payload after it is its delivery's message's."""
        buf = side.buf
        end = list_end(buf, body)
        if end > at + size or end - at > MAX_PERFORMATIVE:
            raise ValueError("a transfer's performative runs past its frame")
        if len(buf) < end:
            side.need = end - at
            return None
        head = bytes(view[body: end])
        offsets, _ = fields(head, 0)
        handle = unsigned(head, offsets[0]) if offsets else None
        more = len(offsets) > 5 and head[offsets[5]] == 0x41
        payload = at + size - end
        key = (channel, handle if handle is not None else -1)
        message = side.bodies.get(key)
        prefix = 0
        if message is None and payload and len(side.bodies) < MAX_OPEN:
            held = min(len(buf) - end, payload)            # the sections before the data's contents
            found = data_start(bytes(view[end: end + held])) if held >= min(payload, PREFIX_PEEK) else -1
            if found < 0 and held < min(payload, MAX_PREFIX):
                side.need = end - at + min(payload, PREFIX_PEEK if held < PREFIX_PEEK else MAX_PREFIX)
                return None
            prefix = max(found, 0)
            payload -= prefix
            address = side.links.get(key, f"handle {handle}")
            message = side.bodies[key] = Message(address, f"amqp1 transfer {address}", {"address": address}, 0, t)
        if message is not None:
            message.left += payload
            message.more = more
        self._other(direction, bytes(view[at: end + prefix]), t)
        side.current, side.frame_left = key, payload
        if message is not None and not payload and not more:    # the delivery's last transfer carries nothing
            self.out += self.messages.emit(direction, message, last=True)
            del side.bodies[key]
        return end + prefix
