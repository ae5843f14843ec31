"""HTTP/2 (prior knowledge or h2c upgrade), incremental: frames, HPACK, one Payload per stream body.

Frames are cut from each direction's byte stream (struct header, no per-byte work); header
blocks (HEADERS/PUSH_PROMISE + CONTINUATION) go through one ``hpack.Decoder`` per
direction, every block, so the dynamic table stays in step.  DATA (padding removed) feeds a
``BodyPipe`` per stream and direction: content codings removed, gRPC split per message,
multipart per part, and bodies larger than the per-stream cap emitted in pieces.

After a reassembly hole the direction resynchronises on the next frame boundary (a frame header
whose frame is followed by another valid header, found with a regex, not byte by byte) and goes
on with a fresh HPACK decoder.  HPACK indexes count from the newest entry, so a fresh table holds
exactly the peer's newest entries: a block that refers past them (to entries added before or
during the hole) fails to decode and is skipped, never misread.  DATA frames stay with their
stream: a stream whose headers came before the hole keeps its label; its body after the hole is
a new piece, raw (a content coding cannot resume mid-stream).

Bytes a sender chooses outside any stream (non-zero padding, GOAWAY debug data, PING data, frames of
an extension type) are dropped by a peer that follows the RFC and read by one of the instrument's own:
they go on as a stream of their own (``SIDE_LABEL``), never dropped.  The values of the instrument's
control frames, four or five bytes a frame its sender picks (reads in WINDOW_UPDATE increments or the
values of SETTINGS replayed clean), are each a message of their field's stream across frames and
connections (``FIELDS``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

import hpack
from hpack.exceptions import HPACKError

from sandbox.model import Observation, Payload
from sandbox.protocols.context import MAX_LABEL_PATH, FlowContext
from sandbox.protocols.doh import DohReader
from sandbox.protocols.follow import MessageStream, MessageStreams, message_key
from sandbox.protocols.grpc import chunk_of
from sandbox.protocols.headvalues import HeadValues
from sandbox.protocols.httpbody import BodyPipe
from sandbox.protocols.parts import PartStreams, part_header, parts_of
from sandbox.protocols.raw import RAW_PIECE

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME = struct.Struct(">HBBBI")  # length is 24 bits: 16 + 8
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x4, 0x8, 0x20

# Per stream and direction a body is emitted in pieces of this size: with up to
# MAX_OPEN_STREAMS streams buffered this bounds one connection at 1 GiB worst case.
MAX_STREAM_PIECE = 4 * 1024 * 1024
# Servers advertise SETTINGS_MAX_CONCURRENT_STREAMS of 100-256; past this many unfinished
# streams the oldest is flushed and forgotten (a hostile peer cannot grow the table).
MAX_OPEN_STREAMS = 256
# A header block (HEADERS + CONTINUATIONs) larger than this is a CONTINUATION flood
# (CVE-2024-27316 class); real blocks are a few KiB.
MAX_HEADER_BLOCK = 1024 * 1024
# HPACK limits: header list as nghttp2's default (64 KiB) x4; table up to 1 MiB.
MAX_HEADER_LIST = 256 * 1024
MAX_HPACK_TABLE = 1024 * 1024
# RFC 9113 4.2: frames are at most 16 KiB unless the receiver's SETTINGS_MAX_FRAME_SIZE allows more.
DEFAULT_MAX_FRAME = 1 << 14
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_MAX_FRAME_SIZE = 1, 5
# Bytes searched for a frame boundary after a hole before this side gives up (raw from there on):
# a boundary comes within one frame, and frames are 16 KiB unless a peer allowed up to 16 MiB.
MAX_RESYNC = 1 << 20
# A frame header as a regex (lookahead: overlapping candidates): length under 16 MiB, a defined
# type, any flags, the reserved bit clear.  Each candidate is then checked field by field.
_CANDIDATE = re.compile(rb"(?=[\x00-\xff]{3}[\x00-\x09][\x00-\xff][\x00-\x7f])", re.DOTALL)
# Flags each frame type defines (RFC 9113 6): a header with others is not a frame boundary.
_FLAGS = {DATA: END_STREAM | PADDED, HEADERS: END_STREAM | END_HEADERS | PADDED | PRIORITY_FLAG,
          PRIORITY: 0, RST_STREAM: 0, SETTINGS: 1, PUSH_PROMISE: END_HEADERS | PADDED, PING: 1, GOAWAY: 0,
          WINDOW_UPDATE: 0, CONTINUATION: END_HEADERS}
# Fixed payload lengths (RFC 9113 6.3-6.9) and which types belong to a stream (sid != 0).
_LENGTH = {PRIORITY: 5, RST_STREAM: 4, PING: 8, WINDOW_UPDATE: 4}
# The chain label of the bytes a sender chose outside streams: non-zero padding, GOAWAY debug data,
# PING data and the payloads of extension frames (a peer must ignore frame types it does not know).
SIDE_LABEL = "http/2 padding and extension frames"
# The streams of control frames' values, by frame type (a SETTINGS frame's ids are a stream of their own).
FIELDS = {SETTINGS: "http/2 settings values", WINDOW_UPDATE: "http/2 window increments",
          PRIORITY: "http/2 priorities", RST_STREAM: "http/2 reset codes"}
_CONNECTION_TYPES = frozenset((SETTINGS, PING, GOAWAY))


@dataclass(slots=True)
class _Stream:
    sid: int
    label: str = "http/2 ? ?"
    meta: dict[str, Any] = field(default_factory=dict)
    pipes: dict[str, BodyPipe] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)  # stream offset of the first DATA byte
    ended: set[str] = field(default_factory=set)
    grpc: bool = False
    resumed: set[str] = field(default_factory=set)  # directions whose body resumed after a hole
    messages: MessageStream | None = None   # its gRPC messages, read one after another (calls multiplex)


def _decoder(max_table: int = 4096) -> hpack.Decoder:
    decoder = hpack.Decoder(max_header_list_size=MAX_HEADER_LIST)
    decoder.max_allowed_table_size = max_table
    return decoder


class _Direction:
    """Frame cutter for one direction (the client's starts with the connection preface)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.wire = 0  # stream offset of buf[0]
        self.preface = None  # None: not yet known, True/False once seen
        self.decoder = _decoder()
        self.block: bytearray | None = None  # header block being continued
        self.block_frame: tuple[int, int, int] = (0, 0, 0)  # (type, flags, stream id)
        self.broken = ""
        self.lost = False  # after a hole: looking for the next frame boundary
        self.skipped = 0  # bytes handed on raw while looking
        self.max_frame = DEFAULT_MAX_FRAME  # what the other side's SETTINGS allow this side to send
        self.side = bytearray()  # bytes of the sender's choice outside streams (``SIDE_LABEL``)

    def header_ok(self, pos: int) -> bool:
        """Is there a plausible frame header at ``buf[pos]`` (9 bytes available)?"""
        hi, lo, ftype, flags, sid = _FRAME.unpack_from(self.buf, pos)
        length = hi << 8 | lo
        return (ftype <= CONTINUATION and length <= self.max_frame and not flags & ~_FLAGS[ftype] & 0xFF
                and _LENGTH.get(ftype, length) == length and (sid == 0) == (ftype in _CONNECTION_TYPES)
                and not (ftype == SETTINGS and length % 6) and not sid >> 31)


class Http2Parser:
    """HTTP/2 connection parser; streams keyed by id, roles learned from the headers."""

    name: ClassVar[str] = "http/2"

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        n_out, n_in = min(len(first_out), 24), min(len(first_in), 24)
        return bool((n_out >= 4 and first_out[:n_out] == PREFACE[:n_out])
                    or (n_in >= 4 and first_in[:n_in] == PREFACE[:n_in]))

    @staticmethod
    def begins(data: bytes) -> bool:
        """The whole connection preface starts at ``data[0]`` (HTTP/2 after a preamble)."""
        return data.startswith(PREFACE)

    def __init__(self, ctx: FlowContext, upgrade: tuple[str, dict[str, Any]] | None = None,
                 client: str | None = None, offsets: dict[str, int] | None = None) -> None:
        self.ctx = ctx
        self.out: list[Payload | Observation] = []
        self.dirs = {"out": _Direction(), "in": _Direction()}
        for direction, offset in (offsets or {}).items():
            self.dirs[direction].wire = offset
        self.streams: dict[int, _Stream] = {}
        self.doh = DohReader(ctx)
        self.bodies = {d: MessageStreams(ctx, across=True) for d in ("out", "in")}   # by path, in the order they come
        self.parts = PartStreams(ctx)     # ... in numbered parts, in their numbers' order
        self.heads = HeadValues(ctx)      # data sent a header, cookie or parameter at a time
        self.fields = MessageStreams(ctx, across=True)   # control frames' values (``FIELDS``)
        self.t = 0.0
        ctx.info.app = "http/2" if not ctx.info.app or not upgrade else ctx.info.app
        if upgrade:  # h2c: stream 1 is the HTTP/1.1 request that asked for the upgrade
            label, meta = upgrade
            path = label.split(" ", 2)[-1]
            method = label.split(" ", 2)[1] if label.count(" ") >= 2 else "GET"
            self.streams[1] = _Stream(1, f"http/2 {method} {path}", {**meta, "h2c": True})
            self.streams[1].ended.add(client or ctx.client)  # the request went as HTTP/1.1
            ctx.info.meta["h2c"] = True

    # -- interface
    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        self.t = t
        d = self.dirs[direction]
        if d.broken:
            d.buf += data
            if len(d.buf) >= RAW_PIECE:
                self._raw(direction, d)
            return self._take()
        d.buf += data
        if d.preface is None:
            n = min(len(d.buf), 24)
            if d.buf[:n] != PREFACE[:n]:
                d.preface = False
            elif n == 24:
                d.preface = True
                del d.buf[:24]
                d.wire += 24
            else:
                return self._take()
        if d.lost and not self._resync(direction, d):
            return self._take()
        self._frames(direction, d)
        return self._take()

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        """A hole: framing and HPACK state are lost; look for the next frame, keep streams known."""
        d = self.dirs[direction]
        self._raw(direction, d)
        d.wire += size
        if d.broken:
            return self._take()
        d.lost = True
        d.skipped = 0
        d.block = None
        d.decoder = _decoder(d.decoder.max_allowed_table_size)
        self.out += self.bodies[direction].close()
        if direction == "out":
            self.out += self.heads.close()
        self.ctx.info.meta["http2_holes"] = self.ctx.info.meta.get("http2_holes", 0) + 1
        for stream in list(self.streams.values()):
            if direction in stream.pipes:   # its body has a hole: this piece ends, the next is raw
                if stream.messages is not None:
                    self.out += stream.messages.close()
                stream.meta["truncated"] = True
                pipe = stream.pipes.pop(direction)
                pipe.end()
                stream.resumed.add(direction)
                stream.offsets.pop(direction, None)
        return self._take()

    def _resync(self, direction: str, d: _Direction) -> bool:
        """Drop (as raw) what precedes the next frame boundary; False while still looking."""
        limit = len(d.buf) - 9
        candidates = [m.start() for m in _CANDIDATE.finditer(d.buf, 0, max(limit + 9, 0))]
        for pos in candidates:
            if pos > limit:
                break
            verdict = self._boundary(d, pos)
            if verdict is None:       # the frame runs past the bytes we have: wait for more
                return self._skip(direction, d, pos)
            if verdict:
                self._skip(direction, d, pos)
                d.lost = False
                return True
        return self._skip(direction, d, max(len(d.buf) - 8, 0))

    def _boundary(self, d: _Direction, pos: int) -> bool | None:
        """A frame at ``pos`` followed by another frame header; None (wait for more bytes) while the
        next header has not arrived: one header alone is too weak a proof (nine bytes of a body can
        pass for one), and what is still unproven at the end goes on raw.  The frame must also fit
        the connection: a connection frame, a HEADERS frame (a new stream), or a frame of a stream
        already seen; body bytes read as a frame name some stream nobody opened."""
        if not d.header_ok(pos) or d.buf[pos + 3] == CONTINUATION:   # a block cannot resume mid-way
            return False
        sid = int.from_bytes(d.buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
        if sid and d.buf[pos + 3] != HEADERS and sid not in self.streams:
            return False
        end = pos + 9 + int.from_bytes(d.buf[pos:pos + 3], "big")
        if end + 9 <= len(d.buf):
            return d.header_ok(end)
        return None

    def _skip(self, direction: str, d: _Direction, pos: int) -> bool:
        """Hand ``buf[:pos]`` on raw; give this side up once the search has gone past MAX_RESYNC."""
        if pos:
            self.out.append(self.ctx.payload(bytes(d.buf[:pos]), "http/2 unparsed", direction, self.t, self.t,
                                             d.wire))
            d.wire += pos
            del d.buf[:pos]
            d.skipped += pos
        if d.lost and d.skipped > MAX_RESYNC:
            self._break(direction, d, f"no frame boundary within {MAX_RESYNC} bytes after a hole")
        return False

    def idle(self, t: float) -> list[Payload | Observation]:
        """The connection went quiet: bytes held outside streams go out (a live finding does not wait),
        DNS over HTTPS its names."""
        for direction, d in self.dirs.items():
            self._side_out(direction, d)
        for messages in (*self.bodies.values(), self.heads, self.fields,
                         *(s.messages for s in self.streams.values() if s.messages)):
            self.out += messages.idle()
        out = self._take()
        return out + self.doh.idle()

    def close(self, t: float) -> list[Payload | Observation]:
        self.t = max(self.t, t)
        for direction, d in self.dirs.items():
            self._side_out(direction, d)
            self._raw(direction, d)
        for sid in list(self.streams):
            self._end_stream(sid, truncated=True)
        for bodies in self.bodies.values():
            self.out += bodies.close()
        self.out += self.heads.close()
        self.out += self.fields.close()
        out = self._take()
        return out + self.doh.close()

    def _take(self) -> list[Payload | Observation]:
        out, self.out = self.out, []
        return self.doh.read(out)

    # -- frames
    def _frames(self, direction: str, d: _Direction) -> None:
        buf = d.buf
        pos = 0
        while len(buf) - pos >= 9:
            hi, lo, ftype, flags, sid = _FRAME.unpack_from(buf, pos)
            length = hi << 8 | lo
            sid &= 0x7FFFFFFF
            if len(buf) - pos - 9 < length:
                break
            payload = bytes(buf[pos + 9 : pos + 9 + length])
            offset = d.wire + pos + 9
            pos += 9 + length
            try:
                self._frame(direction, d, ftype, flags, sid, payload, offset)
            except (ValueError, HPACKError, IndexError, struct.error) as exc:
                del buf[:pos]
                d.wire += pos
                self._break(direction, d, f"{type(exc).__name__}: {exc}")
                return
        del buf[:pos]
        d.wire += pos

    def _frame(self, direction: str, d: _Direction, ftype: int, flags: int, sid: int,
               payload: bytes, offset: int) -> None:
        if d.block is not None and ftype != CONTINUATION:
            raise ValueError("header block interrupted by another frame")
        if ftype == DATA:
            pad = 0
            if flags & PADDED:
                pad = payload[0] + 1
                offset += 1
                if pad > len(payload):
                    raise ValueError("DATA padding longer than the frame")
                self._side(direction, d, payload[len(payload) - pad + 1:])
                payload = payload[1 : len(payload) - pad + 1]
            self._data(direction, sid, payload, offset, flags & END_STREAM)
        elif ftype in (HEADERS, PUSH_PROMISE):
            if flags & PADDED:
                pad = payload[0]
                self._side(direction, d, payload[max(1, len(payload) - pad):])
                payload = payload[1 : len(payload) - pad]
            if ftype == HEADERS and flags & PRIORITY_FLAG:
                self._field(direction, PRIORITY, payload[:5])
                payload = payload[5:]
            promised = 0
            if ftype == PUSH_PROMISE:
                promised = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                payload = payload[4:]
            d.block = bytearray(payload)
            d.block_frame = (ftype, flags, promised or sid)
            if flags & END_HEADERS:
                self._block_done(direction, d)
        elif ftype == CONTINUATION:
            if d.block is None:
                raise ValueError("CONTINUATION without HEADERS")
            d.block += payload
            if len(d.block) > MAX_HEADER_BLOCK:
                raise ValueError(f"header block over {MAX_HEADER_BLOCK} bytes")
            if flags & END_HEADERS:
                self._block_done(direction, d)
        elif ftype == RST_STREAM:
            self._field(direction, ftype, payload)
            self._end_stream(sid, truncated=True)
        elif ftype in (WINDOW_UPDATE, PRIORITY):
            self._field(direction, ftype, payload)
        elif ftype == GOAWAY:
            self._side(direction, d, payload[8:])       # debug data: any bytes, any length
        elif ftype == PING or ftype > CONTINUATION:    # opaque data; frames of an extension (RFC 9113 5.5)
            self._side(direction, d, payload)
        elif ftype == SETTINGS and not flags & 1:
            other = self.dirs["in" if direction == "out" else "out"]
            for i in range(0, len(payload) - 5, 6):
                self._field(direction, SETTINGS, payload[i:i + 2], "http/2 settings ids")
                self._field(direction, SETTINGS, payload[i + 2:i + 6])
                key, value = struct.unpack_from(">HI", payload, i)
                if key == SETTINGS_HEADER_TABLE_SIZE:  # bounds what the peer's encoder may use
                    other.decoder.max_allowed_table_size = min(value, MAX_HPACK_TABLE)
                elif key == SETTINGS_MAX_FRAME_SIZE:    # the largest frame the peer may send here
                    other.max_frame = min(max(value, DEFAULT_MAX_FRAME), (1 << 24) - 1)

    def _block_done(self, direction: str, d: _Direction) -> None:
        assert d.block is not None
        ftype, flags, sid = d.block_frame
        block = bytes(d.block)
        d.block = None
        try:
            headers = d.decoder.decode(block, raw=True)
        except (HPACKError, IndexError, ValueError) as exc:
            # an index past the entries we hold (a hole, or a hostile block): skip this block and
            # start a fresh table, which then holds exactly the peer's newest entries
            d.decoder = _decoder(d.decoder.max_allowed_table_size)
            self._stream(sid).meta["headers_unreadable"] = True
            self.ctx.error(f"http/2 {direction}: header block skipped: {type(exc).__name__}")
            return
        self._headers(direction, sid, headers, bool(flags & END_STREAM) and ftype == HEADERS,
                      promised=ftype == PUSH_PROMISE)

    # -- streams
    def _stream(self, sid: int) -> _Stream:
        stream = self.streams.get(sid)
        if stream is None:
            if len(self.streams) >= MAX_OPEN_STREAMS:
                self._end_stream(next(iter(self.streams)), truncated=True)
            stream = self.streams[sid] = _Stream(sid)
        return stream

    def _headers(self, direction: str, sid: int, headers: list[tuple[bytes, bytes]],
                 end: bool, promised: bool) -> None:
        h = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        stream = self._stream(sid)
        info = self.ctx.info
        if ":method" in h:
            path = h.get(":path", "")
            stream.label = f"http/2 {h[':method']} {(path.split('?', 1)[0] or '/')[:MAX_LABEL_PATH]}"
            meta = {"method": h[":method"], "path": path, "stream": sid}
            if "content-type" in h:
                meta["content-type"] = h["content-type"]
            part = part_header((k, v) for k, v in h.items() if not k.startswith(":"))
            if part:
                meta["part"] = part
            host = h.get(":authority") or h.get("host", "")   # an empty :authority falls back to Host
            if host:
                meta["host"] = host
                info.meta.setdefault("host", host)
                if direction == "out":     # a request to the instrument names the instrument, no destination
                    self.ctx.name_destination(host)
                    self.ctx.named(host)
            if "user-agent" in h:
                meta["user-agent"] = h["user-agent"]
                info.meta.setdefault("user-agent", h["user-agent"])
            if promised:
                meta["pushed"] = True
            stream.meta.update(meta)
            stream.grpc = h.get("content-type", "").startswith("application/grpc")
            if not promised:  # the request head: URLs and headers carry data
                head = b"".join(k + b": " + v + b"\r\n" for k, v in headers)  # all of them, as sent
                self.out.append(self.ctx.payload(head, (stream.label, "url"), direction, self.t, self.t,
                                                 None, {**stream.meta, "head": True}))
        pairs = ((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers)
        self.out += self.heads.head(stream.label, h.get(":path", ""), pairs, direction, self.t)
        if ":status" in h:
            status = h[":status"]
            stream.meta["status"] = int(status) if status.isascii() and status.isdigit() else status
            if h[":status"].startswith("1"):
                return
        if stream.grpc or h.get("content-type", "").startswith("application/grpc"):
            info.app = "grpc" if info.app in ("", "http/2") else info.app
        if not promised and direction not in stream.pipes and direction not in stream.ended:
            if ":method" in h or ":status" in h:
                self._open_pipe(stream, direction, h)
        if "grpc-status" in h:
            stream.meta["grpc-status"] = h["grpc-status"]
        if end:
            self._end_direction(stream, direction)

    def _open_pipe(self, stream: _Stream, direction: str, h: dict[str, str]) -> None:
        ctype = h.get("content-type", "")
        if stream.grpc and not ctype:
            ctype = "application/grpc"

        def emit(data: bytes, suffix: tuple[str, ...], meta: dict, off: int,
                 stream: _Stream = stream, direction: str = direction) -> None:
            t0, t1 = stream.times.get(direction, [self.t, self.t])
            m = {**stream.meta, **meta, "body_offset": off}
            self.out.append(self.ctx.payload(data, (stream.label, *suffix), direction, t0, t1,
                                             stream.offsets.get(direction), m))
            if suffix[:1] == ("grpc",):     # a file a message at a time, on its call's stream (calls multiplex)
                if stream.messages is None:
                    stream.messages = MessageStream(self.ctx)
                self.out += stream.messages.follow(chunk_of(data), direction, (stream.label, *suffix), t0, t1, m)
            else:                           # a file a request at a time, in the order they come
                key = message_key(stream.label)
                self.out += self.bodies[direction].follow(key, data, direction, (stream.label, *suffix), t0, t1, m)
                self.out += self.parts.follow(parts_of(m), key, data, off, direction, (stream.label, *suffix), t0, t1, m)

        stream.pipes[direction] = BodyPipe(h.get("content-encoding", ""), ctype, emit,
                                           piece=MAX_STREAM_PIECE, grpc_encoding=h.get("grpc-encoding", ""))

    def _data(self, direction: str, sid: int, data: bytes, offset: int, end: int) -> None:
        stream = self._stream(sid)
        pipe = stream.pipes.get(direction)
        if pipe is None:
            if direction in stream.resumed:
                stream.meta["after_hole"] = True
            self._open_pipe(stream, direction, {})
            pipe = stream.pipes[direction]
        times = stream.times.setdefault(direction, [self.t, self.t])
        stream.offsets.setdefault(direction, offset)
        times[1] = self.t
        if data:
            pipe.feed(data)
        if end:
            self._end_direction(stream, direction)

    def _end_direction(self, stream: _Stream, direction: str) -> None:
        stream.ended.add(direction)
        pipe = stream.pipes.pop(direction, None)
        if pipe is not None:
            pipe.end()
            for e in pipe.errors[:2]:
                self.ctx.error(f"http/2 stream {stream.sid}: {e}")
            if direction == "out":  # what stopped decoding of outbound data is a finding
                t0, t1 = stream.times.get(direction, [self.t, self.t])
                self.out.extend(self.ctx.limit_observation(hit, t0, t1, label=(stream.label,))
                                for hit in pipe.limits)
        if len(stream.ended) == 2:
            self.streams.pop(stream.sid, None)

    def _end_stream(self, sid: int, truncated: bool) -> None:
        stream = self.streams.get(sid)
        if stream is None:
            return
        if truncated:
            stream.meta["truncated"] = True
        for direction in list(stream.pipes):
            self._end_direction(stream, direction)
        if stream.messages is not None:
            self.out += stream.messages.close()
        self.streams.pop(sid, None)

    def _field(self, direction: str, ftype: int, value: bytes, name: str = "") -> None:
        """A value of one of the instrument's control frames, a message of its field's stream."""
        if direction == "out":
            name = name or FIELDS[ftype]
            self.out += self.fields.stream(name, self.out).follow(value, "out", (name,), self.t, self.t)

    # -- bytes outside streams: padding, GOAWAY debug data, PING data, extension frames
    def _side(self, direction: str, d: _Direction, data: bytes) -> None:
        """A peer drops them, a peer of the instrument's own reads them: they are scanned as a stream of
        their own (padding of zeros, as the RFC asks, is nothing)."""
        if data.strip(b"\0"):
            d.side += data
            if len(d.side) >= RAW_PIECE:
                self._side_out(direction, d)

    def _side_out(self, direction: str, d: _Direction) -> None:
        if d.side:
            self.out.append(self.ctx.payload(bytes(d.side), SIDE_LABEL, direction, self.t, self.t))
            d.side.clear()

    # -- broken framing: pass the bytes on raw
    def _break(self, direction: str, d: _Direction, reason: str) -> None:
        d.broken = reason
        self.ctx.error(f"http/2 {direction}: {reason}")

    def _raw(self, direction: str, d: _Direction) -> None:
        if d.buf:
            self.out.append(self.ctx.payload(bytes(d.buf), "http/2 unparsed", direction, self.t, self.t,
                                             d.wire))
            d.wire += len(d.buf)
            d.buf.clear()
