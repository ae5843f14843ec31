"""MQTT 3.1, 3.1.1 and 5.0: the messages an instrument publishes to a broker, read a topic at a time.

Lab instruments and their control PCs report to brokers (an IoT cloud, a lab's own Mosquitto or
RabbitMQ) over MQTT.  Such a flow was raw bytes: every PUBLISH's header (its topic, packet id and
properties) cut into the messages, so a gzip of reads published 4 kB a message, behind 150 kB of
noise, was read to its first message only and replayed clean.  Now packets are framed (a fixed
header and a remaining length, OASIS MQTT 2.2): each PUBLISH's payload is a message handed on as it
is (``mqtt PUBLISH <topic>``, meta ``topic``, ``qos``, ``retain``), a large one in pieces of
MESSAGE_PIECE that overlap, and the messages of each topic are read one after another as one stream
(``follow.MessageStream``: a compressed stream followed across them, short ones also read joined).
MQTT 5's topic aliases are resolved.  Everything else the instrument sends (CONNECT's client id,
user name, password and will, the topic names, properties, SUBSCRIBE's filters) is scanned as a
stream of its own (``mqtt``).  Bytes that break the framing send the rest of that side raw.
"""

from __future__ import annotations

from typing import ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import MAX_LABEL_PATH, FlowContext
from sandbox.protocols.pieces import Message, Messages, Outside
from sandbox.protocols.raw import RawParser
from sandbox.safetext import safe_text

Items = list[Payload | Observation]

CONNECT, PUBLISH, AUTH = 1, 3, 15
PORTS = (1883,)                 # 8883 is MQTT in TLS: the TLS parser hands its plaintext on
PROTOCOLS = {b"\x00\x04MQTT": (4, 5), b"\x00\x06MQIsdp": (3,)}   # protocol name -> levels it comes with
MAX_VARINT = 4                  # bytes of a remaining length (at most 268,435,455)
# A packet other than PUBLISH (CONNECT with its will and password is the largest) or a PUBLISH's
# variable header (topic and properties) longer than this breaks the framing: the side goes raw.
MAX_HEAD = 256 * 1024
TOPIC_ALIAS = 0x23
MAX_ALIASES = 4096              # topic aliases remembered per side (a broker allows at most 65535)
# MQTT 5 property identifiers allowed in PUBLISH and the size of their values (0: a length-prefixed
# string or binary, -1: a variable byte integer, -2: a string pair)
_PUBLISH_PROPERTIES = {0x01: 1, 0x02: 4, 0x03: 0, 0x08: 0, 0x09: 0, 0x0B: -1, 0x23: 2, 0x26: -2}


def varint(data: bytes | bytearray | memoryview, at: int) -> tuple[int, int] | None:
    """(value, bytes used) of a variable byte integer at ``at``; None when cut short; ValueError when
    longer than MAX_VARINT bytes."""
    value = 0
    for i in range(MAX_VARINT):
        if at + i >= len(data):
            return None
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise ValueError("remaining length longer than four bytes")


def is_connect(data: bytes) -> bool:
    """``data`` starts with a CONNECT packet's fixed header, protocol name and level."""
    if len(data) < 2 or data[0] != CONNECT << 4:
        return False
    try:
        length = varint(data, 1)
    except ValueError:
        return False
    if length is None:
        return False
    at = 1 + length[1]
    for name, levels in PROTOCOLS.items():
        if data[at: at + len(name)] == name and len(data) > at + len(name) and data[at + len(name)] in levels:
            return length[0] >= len(name) + 4
    return False


def alias_of(properties: bytes) -> int | None:
    """The topic alias among a PUBLISH's MQTT 5 properties (None when there is none, or a property
    is not one PUBLISH may carry: what follows it cannot be read)."""
    at = 0
    while at < len(properties):
        ident, at = properties[at], at + 1
        size = _PUBLISH_PROPERTIES.get(ident)
        if size is None:
            return None
        if ident == TOPIC_ALIAS and at + 2 <= len(properties):
            return int.from_bytes(properties[at: at + 2], "big")
        if size > 0:
            at += size
        elif size == -1:
            got = varint(properties, at)
            if got is None:
                return None
            at += got[1]
        else:
            for _ in range(2 if size == -2 else 1):
                at += 2 + int.from_bytes(properties[at: at + 2], "big")
    return None


class _Side:
    __slots__ = ("buf", "need", "message", "raw", "aliases", "t")

    def __init__(self) -> None:
        self.buf = bytearray()      # bytes of a packet not yet whole (a PUBLISH: of its head)
        self.need = 2               # bytes the buffer must hold before it is looked at again
        self.message: Message | None = None
        self.raw = False
        self.aliases: dict[int, str] = {}   # MQTT 5: topic alias -> topic, as this side set them
        self.t = 0.0


class MqttParser:
    """An MQTT connection, either side the client: messages by topic, the rest scanned as it is."""

    name: ClassVar[str] = "mqtt"
    ports: ClassVar[tuple[int, ...]] = PORTS

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return is_connect(first_out) or is_connect(first_in)

    @staticmethod
    def begins(data: bytes) -> bool:
        return is_connect(data)

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        ctx.info.app = "mqtt"
        self.level = 4              # the protocol level CONNECT asked for (5: packets carry properties)
        self.sides = {"out": _Side(), "in": _Side()}
        self.other = Outside(ctx, "mqtt")
        self.messages = Messages(ctx)
        self.raw = RawParser(ctx)
        self.out: Items = []

    # ---- parser interface ----

    def feed(self, direction: str, data: bytes, t: float) -> Items:
        side = self.sides[direction]
        if side.raw:
            return self.raw.feed(direction, data, t)
        side.t = t
        if side.message is not None and not side.buf:     # a payload's bytes: taken without copying them twice
            taken = min(side.message.left, len(data))
            self._payload(direction, side, data[:taken], t)
            data = data[taken:]
        side.buf += data
        if len(side.buf) >= side.need:
            try:
                self._packets(direction, side, t)
            except ValueError as exc:
                self._to_raw(direction, side, f"mqtt {direction}: {exc}; the rest of this side is scanned raw", t)
        return self._take()

    def gap(self, direction: str, size: int) -> Items:
        side = self.sides[direction]
        message = side.message
        if not side.raw and message is not None and not side.buf and size < message.left:
            self.out += self.messages.hole(direction, message, size)    # a hole inside a payload: framing survives
            return self._take()
        if not side.raw:
            self._to_raw(direction, side, f"mqtt {direction}: a gap of {size} bytes; the rest of this side is "
                                          "scanned raw", side.t)
        return self._take() + self.raw.gap(direction, size)

    def idle(self, t: float) -> Items:
        """The connection went quiet: what is held (other bytes, short messages to join) goes out."""
        self.out += self.other.flush()
        self.out += self.messages.idle()
        return self._take() + self.raw.idle(t)

    def close(self, t: float) -> Items:
        for direction, side in self.sides.items():
            if side.message is not None:                 # a payload cut short: what came is still read
                side.message.meta["truncated"] = True
                self.out += self.messages.emit(direction, side.message, last=True)
                side.message = None
            if side.buf and not side.raw:
                self._other(direction, side.buf, side.t)
                side.buf.clear()
        self.out += self.other.flush()
        self.out += self.messages.close()
        return self._take() + self.raw.close(t)

    # ---- framing ----

    def _packets(self, direction: str, side: _Side, t: float) -> None:
        """Take the whole packets and the heads of PUBLISH packets the buffer holds."""
        buf = side.buf
        view = memoryview(buf)
        at = 0
        try:
            while at < len(buf):
                message = side.message
                if message is not None:                     # payload bytes after a head in the same buffer
                    taken = min(message.left, len(buf) - at)
                    self._payload(direction, side, bytes(view[at: at + taken]), t)
                    at += taken
                    continue
                kind = buf[at] >> 4
                if kind == 0 or (kind == AUTH and self.level != 5):
                    raise ValueError(f"reserved packet type {kind}")
                got = varint(buf, at + 1)
                if got is None:
                    side.need = len(buf) - at + 1
                    break
                length, used = got
                start = at + 1 + used
                if kind == PUBLISH:
                    head = self._publish_head(buf, at, start, length)
                    if head is None:                        # the variable header is not whole yet
                        if len(buf) - start >= MAX_HEAD:
                            raise ValueError("a PUBLISH header longer than 256 KiB")
                        side.need = len(buf) - at + 1
                        break
                    size, alias, head_size = head
                    topic = self._topic(side, bytes(view[start + 2: start + 2 + size]), alias)
                    meta = {"topic": topic, "qos": (buf[at] >> 1) & 3, "retain": bool(buf[at] & 1)}
                    self._other(direction, bytes(view[at: start + head_size]), t)
                    side.message = Message(topic, f"mqtt PUBLISH {topic}", meta, length - head_size, t)
                    at = start + head_size
                    if not side.message.left:               # an empty message (a retained one deleted)
                        side.message = None
                    continue
                if length > MAX_HEAD:
                    raise ValueError(f"a packet of type {kind} of {length} bytes")
                if len(buf) - start < length:
                    side.need = start - at + length
                    break
                packet = bytes(view[at: start + length])
                if kind == CONNECT:
                    self._connect(packet[1 + used:])
                self._other(direction, packet, t)
                at = start + length
            else:
                side.need = 2
        finally:
            view.release()
            del buf[:at]
        if side.message is not None and not buf:
            side.need = 2

    def _publish_head(self, buf: bytearray, at: int, start: int, length: int) -> tuple[int, int | None, int] | None:
        """(the topic's length, the topic alias or None, the size of the variable header) of the PUBLISH
        at ``at`` whose remaining ``length`` bytes start at ``start``; None when its variable header is
        not all buffered yet; ValueError when the header cannot fit its packet."""
        if len(buf) - start < 2:
            return None
        qos = (buf[at] >> 1) & 3
        if qos == 3:
            raise ValueError("a PUBLISH of QoS 3")
        size = int.from_bytes(buf[start: start + 2], "big")
        end = start + 2 + size + (2 if qos else 0)
        props = None
        if self.level == 5:
            got = varint(buf, end)
            if got is None:
                if len(buf) - start >= length:
                    raise ValueError("a PUBLISH header longer than its packet")
                return None
            props, end = (end + got[1], end + got[1] + got[0]), end + got[1] + got[0]
        if end - start > length:
            raise ValueError("a PUBLISH header longer than its packet")
        if len(buf) < end:
            return None
        alias = alias_of(bytes(buf[props[0]: props[1]])) if props else None
        return size, alias, end - start

    @staticmethod
    def _topic(side: _Side, name: bytes, alias: int | None) -> str:
        """A PUBLISH's topic, made safe, MQTT 5's alias resolved (and remembered when it is set)."""
        topic = safe_text(name.decode("utf-8", "replace"), MAX_LABEL_PATH)
        if alias is None:
            return topic
        if name:
            side.aliases.pop(alias, None)
            side.aliases[alias] = topic
            if len(side.aliases) > MAX_ALIASES:
                del side.aliases[next(iter(side.aliases))]
            return topic
        return side.aliases.get(alias, f"alias {alias}")

    def _connect(self, body: bytes) -> None:
        """The protocol level a CONNECT asks for (its body after the fixed header)."""
        for name, levels in PROTOCOLS.items():
            if body.startswith(name) and len(body) > len(name) and body[len(name)] in levels:
                self.level = body[len(name)]

    # ---- what is handed on ----

    def _payload(self, direction: str, side: _Side, data: bytes, t: float) -> None:
        assert side.message is not None
        self.out += self.messages.add(direction, side.message, data, t)
        if not side.message.left:
            side.message = None

    def _other(self, direction: str, data: bytes | bytearray, t: float) -> None:
        self.out += self.other.add(direction, data, t)

    def _to_raw(self, direction: str, side: _Side, reason: str, t: float) -> None:
        """Framing broken: what the side holds and all that comes after is scanned raw."""
        self.ctx.error(reason)
        side.raw = True
        if side.message is not None:
            side.message.meta["truncated"] = True
            self.out += self.messages.emit(direction, side.message, last=True)
            side.message = None
        self.out += self.other.flush(direction)
        held = bytes(side.buf)
        side.buf.clear()
        if held:
            self.out += self.raw.feed(direction, held, t)

    def _take(self) -> Items:
        out, self.out = self.out, []
        return out
