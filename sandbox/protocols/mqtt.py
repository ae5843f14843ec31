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

from sandbox.protocols.context import MAX_LABEL_PATH, FlowContext
from sandbox.protocols.pieces import FramedParser, FramedSide, Message
from sandbox.safetext import safe_text

CONNECT, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, AUTH = 1, 3, 8, 10, 15
PORTS = (1883,)                 # 8883 is MQTT in TLS: the TLS parser hands its plaintext on
PROTOCOLS = {b"\x00\x04MQTT": (4, 5), b"\x00\x06MQIsdp": (3,)}   # protocol name -> levels it comes with
MAX_VARINT = 4                  # bytes of a remaining length (at most 268,435,455)
# A packet other than PUBLISH (CONNECT with its will and password is the largest) or a PUBLISH's
# variable header (topic and properties) longer than this breaks the framing: the side goes raw.
MAX_HEAD = 256 * 1024
TOPIC_ALIAS = 0x23
MAX_ALIASES = 4096              # topic aliases remembered per side (a broker allows at most 65535)
MAX_LEVELS = 16                 # a topic's levels read across messages, each as a name of its own
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


def after_properties(data: bytes, at: int) -> int | None:
    """The offset after the MQTT 5 property list at ``at`` (its length a variable byte integer first);
    None when it is cut short."""
    got = varint(data, at) if len(data) > at else None
    return None if got is None else at + got[1] + got[0]


def connect_fields(body: bytes) -> list[tuple[str, bytes]]:
    """A CONNECT's client id, will topic and message, user name and password (its body after the fixed
    header), as far as they parse: read across connections (``HeadValues``), as a beacon that
    reconnects a piece at a time sends them (reads 30 bytes a connection as client ids replayed clean)."""
    fields: list[tuple[str, bytes]] = []
    name = next((n for n in PROTOCOLS if body.startswith(n)), None)
    if name is None or len(body) < len(name) + 4:
        return fields
    level, flags = body[len(name)], body[len(name) + 1]
    at = len(name) + 4
    try:
        if level == 5 and (at := after_properties(body, at)) is None:
            return fields
        wanted = ["client id"]
        if flags & 0x04:
            if level == 5 and (at := after_properties(body, at)) is None:
                return fields
            wanted += ["will topic", "will message"]
        wanted += ["user name"] * bool(flags & 0x80) + ["password"] * bool(flags & 0x40)
        for field in wanted:
            size = int.from_bytes(body[at:at + 2], "big")
            if at + 2 + size > len(body):
                break
            fields.append((f"connect/{field}", body[at + 2:at + 2 + size]))
            at += 2 + size
    except ValueError:
        pass
    return fields


def topic_filters(body: bytes, subscribe: bool, v5: bool) -> list[bytes]:
    """A SUBSCRIBE's or UNSUBSCRIBE's topic filters (its body after the fixed header), as far as they
    parse: read across packets and connections (base64 of a gzip of reads 100 characters a filter,
    each cut from the next by the packets' headers in the stream of the rest, replayed clean)."""
    at, filters = 2, []
    if v5 and (at := after_properties(body, at)) is None:
        return filters
    while at + 2 <= len(body) and len(filters) < MAX_LEVELS:
        size = int.from_bytes(body[at:at + 2], "big")
        if at + 2 + size > len(body):
            break
        filters.append(body[at + 2:at + 2 + size])
        at += 2 + size + (1 if subscribe else 0)
    return filters


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


class _Side(FramedSide):
    __slots__ = ("aliases",)

    def __init__(self) -> None:
        super().__init__(MqttParser.HEAD_MIN)
        self.aliases: dict[int, str] = {}      # MQTT 5: topic alias -> topic, as this side set them


class MqttParser(FramedParser):
    """An MQTT connection, either side the client: messages by topic, the rest scanned as it is."""

    name: ClassVar[str] = "mqtt"
    ports: ClassVar[tuple[int, ...]] = PORTS
    HEAD_MIN: ClassVar[int] = 2

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return is_connect(first_out) or is_connect(first_in)

    @staticmethod
    def begins(data: bytes) -> bool:
        return is_connect(data)

    def __init__(self, ctx: FlowContext) -> None:
        super().__init__(ctx, {"out": _Side(), "in": _Side()})
        ctx.info.app = "mqtt"
        self.level = 4              # the protocol level CONNECT asked for (5: packets carry properties)

    # ---- framing ----

    def _frame(self, direction: str, side: _Side, view: memoryview, at: int, t: float) -> int | None:
        buf = side.buf
        kind = buf[at] >> 4
        if kind == 0 or (kind == AUTH and self.level != 5):
            raise ValueError(f"reserved packet type {kind}")
        got = varint(buf, at + 1)
        if got is None:
            side.need = len(buf) - at + 1
            return None
        length, used = got
        start = at + 1 + used
        if kind == PUBLISH:
            head = self._publish_head(buf, at, start, length)
            if head is None:                        # the variable header is not whole yet
                if len(buf) - start >= MAX_HEAD:
                    raise ValueError("a PUBLISH header longer than 256 KiB")
                side.need = len(buf) - at + 1
                return None
            size, alias, head_size = head
            topic = self._topic(side, bytes(view[start + 2: start + 2 + size]), alias)
            meta = {"topic": topic, "qos": (buf[at] >> 1) & 3, "retain": bool(buf[at] & 1)}
            self._other(direction, bytes(view[at: start + head_size]), t)
            levels = bytes(view[start + 2: start + 2 + size]).split(b"/")[:MAX_LEVELS]   # a level's changing values
            self.out += self.names.take("mqtt PUBLISH", [(f"topic/{n}", level) for n, level in enumerate(levels)],
                                        direction, t)
            if length > head_size:                  # not an empty message (a retained one deleted)
                side.message = Message(topic, f"mqtt PUBLISH {topic}", meta, length - head_size, t)
            return start + head_size
        if length > MAX_HEAD:
            raise ValueError(f"a packet of type {kind} of {length} bytes")
        if len(buf) - start < length:
            side.need = start - at + length
            return None
        packet = bytes(view[at: start + length])
        if kind == CONNECT:
            self._connect(packet[1 + used:])
            self.out += self.names.take("mqtt CONNECT", connect_fields(packet[1 + used:]), direction, t)
        elif kind in (SUBSCRIBE, UNSUBSCRIBE):
            filters = topic_filters(packet[1 + used:], kind == SUBSCRIBE, self.level == 5)
            self.out += self.names.take("mqtt SUBSCRIBE", [("filter", f) for f in filters], direction, t)
        self._other(direction, packet, t)
        return start + length

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
