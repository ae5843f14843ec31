"""WebSocket (RFC 6455) after an HTTP/1.1 upgrade, or recognised mid-stream: one Payload per message.

Frames are unmasked in bulk (numpy XOR), fragments joined into messages, control frames
(close/ping/pong, which can smuggle bytes too) emitted on their own, and permessage-deflate
(RFC 7692) undone with or without context takeover.  Frame payloads are consumed as they
arrive, so a frame of any size costs memory only up to the message piece cap.  Inflating is
bounded by an expansion ratio; when it stops (limit, bad data, gap) what was decoded goes out
with the reason, and the message's compressed rest follows raw (meta ``raw``).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from sandbox.decode.codec import ZlibCodec
from sandbox.decode.limits import LimitHit
from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import MessageStreams
from sandbox.protocols.mqtt import MqttParser, is_connect
from sandbox.protocols.raw import RAW_PIECE

# Messages larger than this are emitted in consecutive pieces (same cap as HTTP bodies).
MAX_MESSAGE_PIECE = 64 * 1024 * 1024
# RFC 6455 5.5: control frames carry at most 125 bytes and are never fragmented.
MAX_CONTROL = 125
_OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.2: removed by the sender, appended back here
RAW_DEFLATE = -15  # RFC 7692 7.2.1: DEFLATE without zlib header, window up to 32 KiB
# Compressed message bytes handed to the inflater at once: its output per call stays within the
# expansion allowance of a slice (or the floor), never the ratio times a whole big frame.
INFLATE_SLICE = 16 * 1024


def unmask(data: bytes, mask: bytes, offset: int) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` starting at mask position ``offset``."""
    if not data:
        return data
    r = offset % 4
    n = len(data)
    key = ((mask[r:] + mask[:r]) * (n // 4 + 1))[:n]
    return np.bitwise_xor(np.frombuffer(data, dtype=np.uint8), np.frombuffer(key, dtype=np.uint8)).tobytes()


def _frames_ok(data: bytes, masked: bool) -> bool:
    """True when ``data`` is one or more whole frames, each with ``masked`` as given.

    The first frame must open a message or be a control frame: a continuation first is
    possible mid-stream but too weak a signal among other binary protocols.
    """
    if not data or data[0] & 0x0F == 0:
        return False
    pos, frames = 0, 0
    while pos < len(data):
        if len(data) - pos < 2:
            return False
        b0, b1 = data[pos], data[pos + 1]
        opcode = b0 & 0x0F
        if opcode not in _OPCODES or b0 & 0x30 or bool(b1 & 0x80) != masked:
            return False
        n = b1 & 0x7F
        head = 2
        if n == 126:
            n, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        elif n == 127:
            n, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
        if opcode >= 8 and (n > MAX_CONTROL or not b0 & 0x80):
            return False
        pos += head + (4 if masked else 0) + n
        frames += 1
    return frames > 0 and pos == len(data)


def _parse_extensions(header: str) -> dict[str, Any]:
    for ext in header.split(","):
        parts = [p.strip().lower() for p in ext.split(";")]
        if parts[0] == "permessage-deflate":
            return {p.split("=")[0].strip(): True for p in parts[1:]} | {"enabled": True}
    return {"enabled": False}


# A client frame's masking key is drawn at random for each frame (RFC 6455 5.3): its sender may write
# what it likes there, read as the frames' stream of keys (reads in the keys of empty pings replayed clean).
MASKING_KEYS = "websocket masking keys"


class _Side:
    def __init__(self, direction: str, masked: bool, reset_context: bool) -> None:
        self.direction = direction
        self.masked = masked
        self.reset_context = reset_context
        self.buf = bytearray()
        self.wire = 0  # stream offset of buf[0]
        self.remaining: int | None = None  # payload bytes left in the current frame
        self.mask = b""
        self.mask_off = 0
        self.opcode = 0
        self.fin = True
        self.control = bytearray()
        self.msg_opcode = 0
        self.msg_parts: list[bytes] = []
        self.msg_size = 0
        self.msg_raw = False  # inflating stopped: the parts held now are compressed bytes, raw
        self.msg_compressed = False
        self.msg_start = 0
        self.msg_t = 0.0
        self.msg_open = False
        self.pieces = 0
        self.messages = 0
        self.inflater: Any = None
        self.decode_error = ""
        self.broken = ""


class WebSocketParser:
    """RFC 6455 frames in both directions of one flow (client frames are masked)."""

    name: ClassVar[str] = "websocket"

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        """Mid-stream capture (handshake missed): whole masked client frames, plain server ones."""
        if _frames_ok(first_out, masked=True):
            return not first_in or _frames_ok(first_in, masked=False)
        return _frames_ok(first_in, masked=True) and (not first_out or _frames_ok(first_out, masked=False))

    def __init__(self, ctx: FlowContext, client: str | None = None, label: str = "",
                 extensions: str | None = None, offsets: dict[str, int] | None = None, protocol: str = "") -> None:
        self.ctx = ctx
        self.client = client or ctx.client
        self.labels: tuple[str, ...] = (label, "websocket") if label else ("websocket",)
        # Unknown extensions (mid-stream): RSV1 then means permessage-deflate with takeover.
        self.pmd = _parse_extensions(extensions) if extensions is not None else {"enabled": None}
        server = "in" if self.client == "out" else "out"
        self.sides = {
            self.client: _Side(self.client, True, bool(self.pmd.get("client_no_context_takeover"))),
            server: _Side(server, False, bool(self.pmd.get("server_no_context_takeover"))),
        }
        for direction, offset in (offsets or {}).items():
            self.sides[direction].wire = offset
        # a file sent a message at a time: the compressed stream a message ends inside is followed
        self.messages = {direction: MessageStreams(ctx) for direction in self.sides}   # by opcode
        self.out: list[Payload | Observation] = []
        self.t = 0.0
        ctx.info.meta["websocket"] = True
        if not ctx.info.app:
            ctx.info.app = "websocket"
        self.carried: MqttParser | None = None   # the protocol the messages carry as one byte stream
        if protocol.strip().lower().startswith("mqtt"):
            self._carry()

    def _carry(self) -> None:
        """The messages carry MQTT (the subprotocol the server chose, or a first client message that is
        a CONNECT: AWS IoT and Azure IoT Hub over WebSockets on 443): their bytes, each way, are MQTT's
        stream, its packets free to span messages, parsed by topic under this connection's labels."""
        app = self.ctx.info.app
        self.carried = MqttParser(replace(self.ctx, chain=self.ctx.chain + self.labels))
        self.ctx.info.app = app
        self.ctx.info.meta["websocket_carries"] = "mqtt"

    # -- interface
    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        self.t = t
        side = self.sides[direction]
        side.buf += data
        if side.broken:
            if len(side.buf) >= RAW_PIECE:
                self._raw(side)
        else:
            self._run(side)
        return self._take()

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        side = self.sides[direction]
        if not side.broken and not side.buf and side.remaining is not None and size <= side.remaining:
            if side.opcode < 8 and side.msg_open:  # a hole inside a data frame: framing survives
                self._flush_message(side, last=False, hole=size)
                self.out += self.messages[direction].close()
                if self.carried is not None:
                    self.out += self.carried.gap(direction, size)
                if side.msg_compressed and not side.decode_error:  # the inflate context is lost
                    side.decode_error = f"permessage-deflate: gap of {size} bytes"
                    side.inflater = None
                    side.msg_raw = True
            side.remaining -= size
            side.mask_off += size
            side.wire += size
            if not side.remaining:
                self._frame_end(side)
            return self._take()
        if not side.broken:
            self._break(side, f"gap of {size} bytes")
        self._raw(side)
        side.wire += size
        self.out += self.messages[direction].close()
        if self.carried is not None:
            self.out += self.carried.gap(direction, size)
        return self._take()

    def idle(self, t: float) -> list[Payload | Observation]:
        """The connection went quiet: short messages held to be read joined go out."""
        for messages in self.messages.values():
            self.out += messages.idle()
        if self.carried is not None:
            self.out += self.carried.idle(t)
        return self._take()

    def close(self, t: float) -> list[Payload | Observation]:
        self.t = max(self.t, t)
        for side in self.sides.values():
            if side.msg_open:
                self._flush_message(side, last=True, truncated=True)
            if side.buf:
                self._raw(side)
            self.out += self.messages[side.direction].close()
        if self.carried is not None:
            self.out += self.carried.close(t)
        return self._take()

    def _take(self) -> list[Payload | Observation]:
        out, self.out = self.out, []
        return out

    # -- frames
    def _run(self, side: _Side) -> None:
        buf = side.buf
        while True:
            if side.remaining is None:
                if not self._header(side):
                    return
                if side.broken:
                    return
                if not side.remaining:
                    self._frame_end(side)
                    continue
            k = min(side.remaining, len(buf))
            if not k:
                return
            chunk = bytes(buf[:k])
            del buf[:k]
            start = side.wire
            side.wire += k
            if side.masked:
                chunk = unmask(chunk, side.mask, side.mask_off)
            side.mask_off += k
            side.remaining -= k
            if side.opcode >= 8:
                side.control += chunk
            else:
                self._message_data(side, chunk, start)
            if not side.remaining:
                self._frame_end(side)

    def _header(self, side: _Side) -> bool:
        buf = side.buf
        if len(buf) < 2:
            return False
        b0, b1 = buf[0], buf[1]
        n = b1 & 0x7F
        head = 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if b1 & 0x80 else 0)
        if len(buf) < head:
            return False
        if n == 126:
            n = struct.unpack_from(">H", buf, 2)[0]
        elif n == 127:
            n = struct.unpack_from(">Q", buf, 2)[0]
        opcode = b0 & 0x0F
        rsv = b0 & 0x70
        if opcode not in _OPCODES or rsv & 0x30 or (opcode >= 8 and (n > MAX_CONTROL or not b0 & 0x80)):
            self._break(side, f"bad frame header {bytes(buf[:2]).hex()}")
            return True
        side.mask = bytes(buf[head - 4 : head]) if b1 & 0x80 else b""
        side.masked = bool(b1 & 0x80)
        if side.mask and side.direction == "out":    # four bytes a frame its sender draws (or writes)
            self.out += self.messages["out"].follow(MASKING_KEYS, side.mask, "out", self.labels + (MASKING_KEYS,),
                                                    self.t, self.t)
        side.mask_off = 0
        side.opcode = opcode
        side.fin = bool(b0 & 0x80)
        side.remaining = n
        del buf[:head]
        side.wire += head
        if opcode < 8:
            if opcode != 0 or not side.msg_open:
                if side.msg_open:  # a new message before the last one finished
                    self._flush_message(side, last=True, truncated=True)
                self._open_message(side, opcode, bool(rsv & 0x40))
        else:
            side.control.clear()
        return True

    def _frame_end(self, side: _Side) -> None:
        side.remaining = None
        if side.opcode >= 8:
            data = bytes(side.control)
            side.control.clear()
            if data:
                meta = {"opcode": _OPCODES[side.opcode], "control": True}
                self.out.append(self.ctx.payload(data, self.labels, side.direction, self.t, self.t,
                                                 side.wire - len(data), meta))
                # pings and close reasons one after another, as a stream of their own (125 bytes a ping
                # of a gzip of reads, each read alone, replayed clean)
                said = data[2:] if side.opcode == 8 else data      # a close's reason, after its status code
                self.out += self.messages[side.direction].follow(meta["opcode"], said, side.direction, self.labels,
                                                                 self.t, self.t, meta)
        elif side.fin:
            self._flush_message(side, last=True)

    # -- messages
    def _open_message(self, side: _Side, opcode: int, rsv1: bool) -> None:
        side.msg_open = True
        side.msg_opcode = opcode
        side.msg_compressed = rsv1 and self.pmd.get("enabled") is not False
        side.msg_start = side.wire
        side.msg_t = self.t
        side.msg_raw = False
        side.pieces = 0
        side.decode_error = ""
        if side.msg_compressed and (side.inflater is None or side.reset_context):
            side.inflater = ZlibCodec("permessage-deflate", RAW_DEFLATE)
        if side.inflater is not None:
            side.inflater.restart_counts()  # the expansion ratio is per message

    def _message_data(self, side: _Side, chunk: bytes, start: int) -> None:
        if side.msg_compressed and not side.decode_error:
            self._inflate(side, chunk)
        else:
            self._add(side, chunk)

    def _add(self, side: _Side, chunk: bytes) -> None:
        if chunk:
            side.msg_parts.append(chunk)
            side.msg_size += len(chunk)
            if side.msg_size >= MAX_MESSAGE_PIECE:
                self._flush_message(side, last=False)

    def _inflate(self, side: _Side, data: bytes, tail: bool = False) -> None:
        """Inflate into the message a slice at a time, so memory stays near one piece."""
        inflater = side.inflater
        for at in range(0, len(data), INFLATE_SLICE):
            decoded, raw = inflater.feed_split(data[at : at + INFLATE_SLICE])
            self._add(side, decoded)
            if inflater.failed:
                self._stop_inflate(side, b"" if tail else raw + data[at + INFLATE_SLICE :])
                return

    def _stop_inflate(self, side: _Side, rest: bytes) -> None:
        """Decoding stops: what it decoded goes out (with the reason), then the rest raw.

        A bomb must not hide the real bytes before it; the raw rest of the message is still
        scanned, so byte fingerprints stored in it are not lost either.  A limit that stopped
        outbound data is reported (decode-limit).
        """
        inflater = side.inflater
        side.decode_error = inflater.failed
        if inflater.status == "limit" and side.direction == "out":
            hit = LimitHit(inflater.hit, "permessage-deflate", self.labels, len(rest))
            self.out.append(self.ctx.limit_observation(hit, side.msg_t, self.t))
        side.inflater = None  # the shared context is lost; next message starts afresh
        self.ctx.error(f"websocket {side.direction}: {side.decode_error}")
        self._flush_message(side, last=False)
        side.msg_raw = True
        self._add(side, rest)

    def _flush_message(self, side: _Side, last: bool, truncated: bool = False, hole: int = 0) -> None:
        if last and side.msg_compressed and not side.decode_error and side.inflater is not None and not truncated:
            self._inflate(side, _TAIL, tail=True)
        data = b"".join(side.msg_parts)
        side.msg_parts.clear()
        side.msg_size = 0
        if self.carried is None and side.direction == self.client and not side.messages and not side.pieces \
                and is_connect(data):
            self._carry()
        if self.carried is not None and data and not side.msg_raw:
            self.out += self.carried.feed(side.direction, data, self.t)
            data = b""
            side.pieces += 1
        if data or (last and not side.pieces):
            labels = self.labels + (("permessage-deflate",) if side.msg_compressed and not side.msg_raw else ())
            meta: dict[str, Any] = {"opcode": _OPCODES[side.msg_opcode], "message": side.messages}
            if side.pieces or not last:
                meta["piece"] = side.pieces
            if truncated:
                meta["truncated"] = True
            if side.decode_error:
                meta["decode_errors"] = [side.decode_error]
            if side.msg_raw:
                meta["raw"] = True
            if hole:
                meta["gap_after"] = hole
            self.out.append(self.ctx.payload(data, labels, side.direction, side.msg_t, self.t,
                                             side.msg_start, meta))
            self.out += self.messages[side.direction].follow(meta["opcode"], data, side.direction, labels, side.msg_t,
                                                             self.t, meta)
            side.pieces += 1
        if last:
            side.msg_open = False
            side.messages += 1

    # -- broken framing
    def _break(self, side: _Side, reason: str) -> None:
        side.broken = reason
        self.ctx.error(f"websocket {side.direction}: {reason}")
        if side.msg_open:
            self._flush_message(side, last=True, truncated=True)

    def _raw(self, side: _Side) -> None:
        if side.buf:
            self.out.append(self.ctx.payload(bytes(side.buf), (*self.labels[:-1], "websocket unparsed"),
                                             side.direction, self.t, self.t, side.wire))
            side.wire += len(side.buf)
            side.buf.clear()
