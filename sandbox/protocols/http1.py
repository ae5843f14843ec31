"""HTTP/1.x, both directions, incremental (h11 style): heads, bodies, codings, uploads.

Each direction is a small state machine (head -> body -> head ..., or paused while an
Upgrade/CONNECT answer is pending, or switched to a sub-parser: WebSocket, h2c, tunnel).
Bodies are framed (Content-Length, chunked, until close, none for HEAD/1xx/204/304),
their Content-Encoding removed (gzip, deflate, br, zstd and S3 ``aws-chunked``; the
chain says so: ``"content-encoding:gzip"``), and multipart uploads split into one Payload
per part.  A request head is a Payload too (``..., "url"``): URLs and headers carry data.

The body machinery (chunked framing, content codings, BodyPipe, sinks) is in
``httpbody``, shared with HTTP/2 and gRPC; this module frames HTTP/1 messages.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import MAX_LABEL_PATH, FlowContext
from sandbox.protocols.doh import DohReader
from sandbox.protocols.follow import MessageStreams, message_key
from sandbox.protocols.headvalues import HeadValues
from sandbox.protocols.http2 import Http2Parser
from sandbox.protocols.httpbody import BodyPipe, ChunkedDecoder, CodingError
from sandbox.protocols.parts import PartStreams, part_header, parts_of
from sandbox.protocols.raw import RAW_OVERLAP, RAW_PIECE
from sandbox.protocols.tls import TlsParser
from sandbox.protocols.websocket import WebSocketParser

TLS_HEAD = 5   # a TLS record header: enough to tell a handshake begins

# h11 allows 16 KiB of head; nginx 4x8 KiB, Apache 100 lines of 8 KiB.  64 KiB covers fat
# cookie jars; beyond that the side is not HTTP we can follow and goes raw.
MAX_HEAD = 64 * 1024
# Client bytes held while the answer to an Upgrade/CONNECT request is pending; a client
# must wait for 101/2xx before sending the new protocol, so this is only a safety valve.
MAX_PAUSED = 1024 * 1024
# An unparsed piece that continues the previous one repeats its last RAW_OVERLAP bytes (the
# raw fallback's window), so a fragment across a cut is still whole in one piece.
# Requests awaiting their response: clients pipeline a handful; a one-way flood (responses
# not captured) must not grow the queue without end.
MAX_PENDING_REQUESTS = 1024
# The chain label of a chunked message's chunk extensions and trailers (bytes of its sender's choice a
# peer may read or ignore).
CHUNK_SIDE = "chunk extensions and trailers"
# A capture that starts mid-connection (or a TCP keep-alive byte, as Windows sends) puts bytes
# before a side's first start line: up to this many are a pickup's leftovers (the tail of a
# message in flight, passed on as "unparsed"), not an error.  One raw piece: beyond it the side
# is probably not HTTP and the flow says so.
MAX_LEAD = RAW_PIECE

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") +([^ \r\n]+) +HTTP/(\d)\.(\d) *\r?$")
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) +(\d{3})(?: [^\r\n]*)?\r?$")
_METHODS = rb"(?:GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PROPFIND|MKCOL|COPY|MOVE|LOCK|UNLOCK)"
_DETECT_REQUEST = re.compile(_METHODS + rb" [^ \r\n]*(?: |$)")
_RESYNC_REQUEST = rb"(?<![A-Za-z])" + _METHODS + rb" [^ \r\n]+ HTTP/1\.[01]\r?\n"
_RESYNC_RESPONSE = rb"(?<![A-Za-z0-9])HTTP/1\.[01] [1-5]\d\d[ \r\n]"
# Whole start lines, searched for in unparsed bytes (group 1 is where the message starts).
_RESYNC = {
    "request": re.compile(b"(" + _RESYNC_REQUEST + b")"),
    "response": re.compile(b"(" + _RESYNC_RESPONSE + b")"),
    "": re.compile(b"(" + _RESYNC_REQUEST + b"|" + _RESYNC_RESPONSE + b")"),  # role not known yet
}


# --------------------------------------------------------------------------- HTTP/1 sides


@dataclass(slots=True)
class _Request:
    """What the response side needs to know about the request it answers."""

    method: str
    label: str
    meta: dict[str, Any]
    upgrade: str = ""  # "websocket", "h2c", other token, or "" ; CONNECT -> "connect"
    direction: str = "out"


@dataclass(slots=True)
class _Message:
    label: str
    meta: dict[str, Any]
    t_first: float
    t_last: float
    body_wire: int
    pipe: BodyPipe | None = None
    framing: str = ""  # "length" | "chunked" | "close"
    remaining: int = 0
    chunked: ChunkedDecoder | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Headers = dict[str, str]  # lower-case name -> values joined with ", " (RFC 9110 5.3)


def _parse_headers(lines: list[bytes]) -> Headers:
    headers: Headers = {}
    last = ""
    for line in lines:
        line = line.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and last:  # obsolete line folding
            headers[last] += " " + line.strip().decode("latin-1")
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise CodingError(f"bad header line {line[:40]!r}")
        last = name.strip().lower().decode("latin-1")
        text = value.strip().decode("latin-1")
        headers[last] = f"{headers[last]}, {text}" if last in headers else text
    return headers


class _Side:
    """One direction of an HTTP/1 connection."""

    def __init__(self, parser: Http1Parser, direction: str) -> None:
        self.p = parser
        self.direction = direction
        self.role = ""  # "request" | "response", from the first bytes
        self.state = "head"  # head | body | paused | switched | raw
        self.buf = bytearray()
        self.scan = 0
        self.wire = 0  # stream offset of buf[0]
        self.msg: _Message | None = None
        self.t = 0.0
        self.raw_t = 0.0
        self.raw_checked = 0  # raw state: bytes of buf already looked at for a newline
        self.raw_tail = b""  # last RAW_OVERLAP bytes of the last unparsed piece ...
        self.raw_end = -1  # ... which ended at this stream offset
        self.version = "1.1"
        self.bodies = MessageStreams(parser.ctx, across=True)   # a file sent a request at a time: by path
        self.parts = PartStreams(parser.ctx)       # ... in numbered parts, in their numbers' order
        self.heads = HeadValues(parser.ctx)        # data sent a header, cookie or parameter at a time
        self.lead = True  # no head parsed yet: bytes before the first start line are no error

    # -- input
    def feed(self, data: bytes, t: float) -> None:
        self.t = t
        if self.msg is not None:
            self.msg.t_last = t
        if self.state == "body" and not self.buf:
            n = self._body(data)
            self.wire += n
            data = data[n:] if n < len(data) else b""
        if self.state == "switched":
            self._to_sub(bytes(self.buf) + data)
            return
        if data:
            self.buf += data
        self.run()

    def run(self) -> None:
        while True:
            if self.state == "head":
                if not self._head():
                    return
            elif self.state == "body":
                if not self.buf:
                    return
                data = bytes(self.buf)
                n = self._body(data)
                del self.buf[:n]
                self.wire += n
                self.scan = 0
            elif self.state == "paused":
                if len(self.buf) > MAX_PAUSED:
                    self.p.requests.clear()
                    self.state = "head"
                    continue
                return
            elif self.state == "switched":
                data = bytes(self.buf)
                self.buf.clear()
                self._to_sub(data)
                return
            else:
                self._raw()
                return

    def _to_sub(self, data: bytes) -> None:
        self.buf.clear()
        if data:
            self.wire += len(data)
            self.p.sub_feed(self.direction, data, self.t)

    # -- heads
    def _head(self) -> bool:
        buf = self.buf
        if buf[:2] in (b"\r\n", b"\n\n") or buf[:1] == b"\n":  # CRLF between messages
            k = len(buf) - len(buf.lstrip(b"\r\n"))
            del buf[:k]
            self.wire += k
        if not buf:
            return False
        if not self.role:
            if len(buf) < 5 and b"HTTP/".startswith(bytes(buf)):
                return False
            self.role = "response" if buf[:5] == b"HTTP/" else "request"
        m = _HEAD_END.search(buf, self.scan)
        if m is None:
            if len(buf) > MAX_HEAD:
                self._bad_head(f"head over {MAX_HEAD} bytes")
                return True
            self.scan = max(0, len(buf) - 3)
            return False
        head = bytes(buf[: m.end()])
        del buf[: m.end()]
        self.scan = 0
        start = self.wire
        self.wire += len(head)
        lines = head.split(b"\n")
        try:
            headers = _parse_headers(lines[1:])
            first = lines[0].rstrip(b"\r")
            if self.role == "request":
                rm = _REQUEST_LINE.match(first)
                if rm is None:
                    raise CodingError(f"bad request line {first[:60]!r}")
                self._on_request(rm, headers, head, start)
            else:
                sm = _STATUS_LINE.match(first)
                if sm is None:
                    raise CodingError(f"bad status line {first[:60]!r}")
                self._on_response(sm, headers)
            self.lead = False
        except CodingError as exc:
            self.buf[:0] = head
            self.wire = start
            self._bad_head(str(exc))
        return True

    def _bad_head(self, reason: str) -> None:
        """Before the side's first head: skip to the next start line quietly; after: an error."""
        if not self.lead or self.msg is not None or self.wire + len(self.buf) > MAX_LEAD:
            self.fail(reason)
            return
        other = self.p.sides["in" if self.direction == "out" else "out"]
        # the role came from junk: trust only a side that has parsed a head
        self.role = "" if other.lead or not other.role else (
            "request" if other.role == "response" else "response")
        self._go_raw()

    def _on_request(self, m: re.Match, headers: Headers, head: bytes, start: int) -> None:
        p = self.p
        method = m.group(1).decode("latin-1")
        target = m.group(2).decode("latin-1")
        self.version = f"{m.group(3).decode()}.{m.group(4).decode()}"
        host = headers.get("host", "")
        path = target
        proxied = ""          # where a proxy is asked to connect, whatever Host says
        if method == "CONNECT":
            proxied = target
            host = host or target
        elif "://" in target:  # absolute-form (proxies)
            rest = target.split("://", 1)[1]
            host_part, slash, tail = rest.partition("/")
            proxied = host_part.rpartition("@")[2]
            host = host or host_part
            path = slash + tail
        if self.direction == "out":     # a request to the instrument (it serves) names the instrument, no destination
            if proxied:
                p.ctx.named(proxied, proxied=True)
            if host:
                p.ctx.named(host)
        path_only = path.split("?", 1)[0] or "/"
        label = f"http/{self.version} {method} {path_only[:MAX_LABEL_PATH]}"
        meta: dict[str, Any] = {"method": method, "path": path}
        if host:
            meta["host"] = host
        for key in ("user-agent", "content-type", "content-encoding"):
            value = headers.get(key, "")
            if value:
                meta[key] = value
        part = part_header(headers.items()) if self.direction == "out" else ""
        if part:
            meta["part"] = part
        info = p.ctx.info
        info.app = info.app or "http/1.1"
        for key in ("host", "user-agent"):
            if key in meta:
                info.meta.setdefault(key, meta[key])
        if self.direction == "out":
            p.ctx.name_destination(host)
        p.out.append(p.ctx.payload(head, (label, "url"), self.direction, self.t, self.t, start,
                                   {**meta, "head": True}))
        p.out += self.heads.head(label, path, headers.items(), self.direction, self.t, method)
        upgrade = ""
        connection = headers.get("connection", "").lower()
        if method == "CONNECT":
            upgrade = "connect"
        elif headers.get("upgrade", "") and "upgrade" in connection:
            upgrade = headers.get("upgrade", "").split(",")[0].strip().lower()
        if len(p.requests) >= MAX_PENDING_REQUESTS:
            p.requests.popleft()
        p.requests.append(_Request(method, label, meta, upgrade, self.direction))
        te = headers.get("transfer-encoding", "")
        cl = headers.get("content-length", "")
        self._start_body(label, meta, headers, te, cl, default="none")
        if upgrade and self.state == "head":
            self.state = "paused"

    def _on_response(self, m: re.Match, headers: Headers) -> None:
        p = self.p
        status = int(m.group(3))
        self.version = f"{m.group(1).decode()}.{m.group(2).decode()}"
        if p.requests:
            req = p.requests[0]
        else:  # capture began mid-connection: we never saw the request
            req = _Request("GET", f"http/{self.version} ? ?", {}, "", "out" if self.direction == "in" else "in")
        if 100 <= status < 200 and status != 101:
            return  # 100 Continue, 102, 103: informational, the final answer follows
        if p.requests:
            p.requests.popleft()
        meta = {**req.meta, "status": status}
        meta.pop("head", None)
        for key in ("content-type", "content-encoding", "server"):
            value = headers.get(key, "")
            meta.pop(key, None)
            if value:
                meta[key] = value
        p.out += self.heads.head(req.label, "", headers.items(), self.direction, self.t)
        other = p.sides[req.direction] if req.direction != self.direction else None
        if status == 101 and req.upgrade not in ("", "connect"):
            p.switch(req, headers, self.direction)
            return
        if req.upgrade == "connect" and 200 <= status < 300:
            p.switch(req, headers, self.direction)
            return
        if other is not None and other.state == "paused":
            other.state = "head"
            other.run()
        if req.method == "HEAD" or status in (204, 304):
            return
        te = headers.get("transfer-encoding", "")
        cl = headers.get("content-length", "")
        self._start_body(req.label, meta, headers, te, cl, default="close")

    def _start_body(self, label: str, meta: dict, headers: Headers, te: str, cl: str,
                    default: str) -> None:
        codings = headers.get("content-encoding", "")
        te_names = [n.strip().lower() for n in te.split(",") if n.strip()]
        if te_names and te_names[-1] == "chunked":
            framing = "chunked"
            codings = ", ".join([c for c in [codings, *te_names[:-1]] if c])
        elif te_names:
            framing = "close"
        elif cl:
            values = {v.strip() for v in cl.split(",")}
            length = next(iter(values))
            # ASCII digits only: str.isdigit() takes "²", which int() refuses
            if len(values) != 1 or not (length.isascii() and length.isdigit()):
                raise CodingError(f"bad Content-Length {cl[:40]!r}")
            framing = "length"
        else:
            framing = default
        if framing == "none" or (framing == "length" and int(length) == 0):
            return
        msg = _Message(label, dict(meta), self.t, self.t, self.wire, framing=framing)
        if framing == "length":
            msg.remaining = int(length)
        elif framing == "chunked":
            msg.chunked = ChunkedDecoder()
        ctype = headers.get("content-type", "")
        grpc_enc = headers.get("grpc-encoding", "")
        msg.pipe = BodyPipe(codings, ctype, lambda d, s, mt, o, msg=msg: self._emit(msg, d, s, mt, o),
                            grpc_encoding=grpc_enc)
        self.msg = msg
        self.state = "body"

    # -- bodies
    def _body(self, data: bytes) -> int:
        msg = self.msg
        assert msg is not None and msg.pipe is not None
        if msg.framing == "length":
            k = min(msg.remaining, len(data))
            msg.pipe.feed(data if k == len(data) else data[:k])
            msg.remaining -= k
            if not msg.remaining:
                self._finish()
            return k
        if msg.framing == "chunked":
            assert msg.chunked is not None
            try:
                parts, used = msg.chunked.feed(data)
            except CodingError as exc:
                self.fail(str(exc))
                return 0
            for part in parts:
                msg.pipe.feed(part)
            if len(msg.chunked.side) >= RAW_PIECE:
                self._chunk_side(msg)
            if msg.chunked.done:
                if msg.chunked.trailers:
                    msg.meta["trailers"] = bytes(msg.chunked.trailers[:512]).decode("latin-1")
                self._finish()
            return used
        msg.pipe.feed(data)  # until close
        return len(data)

    def _finish(self, truncated: bool = False) -> None:
        msg = self.msg
        self.msg = None
        self.state = "head"
        if msg is not None and msg.chunked is not None:
            self._chunk_side(msg)
        if msg is None or msg.pipe is None:
            return
        if truncated:
            msg.meta["truncated"] = True
        msg.pipe.end()
        for e in msg.pipe.errors[:2]:
            self.p.ctx.error(f"http/1.1 {self.direction}: {e}")
        if self.direction == "out":  # what stopped decoding of outbound data is a finding
            self.p.out.extend(self.p.ctx.limit_observation(hit, msg.t_first, msg.t_last, label=(msg.label,))
                              for hit in msg.pipe.limits)
        if self.role == "request" and self.p.requests and self.p.requests[-1].upgrade:
            if self.p.requests[-1].direction == self.direction:
                self.state = "paused"

    def _chunk_side(self, msg: _Message) -> None:
        """Chunk extensions and trailers, scanned as a stream of their own (``CHUNK_SIDE``)."""
        assert msg.chunked is not None
        if msg.chunked.side:
            self.p.out.append(self.p.ctx.payload(bytes(msg.chunked.side), (msg.label, CHUNK_SIDE), self.direction,
                                                 msg.t_first, msg.t_last))
            msg.chunked.side.clear()

    def _emit(self, msg: _Message, data: bytes, suffix: tuple[str, ...], meta: dict, off: int) -> None:
        exact = msg.pipe is None or (msg.pipe.wire_exact and msg.framing != "chunked")
        m = {**msg.meta, **meta, "body_offset": off}
        self.p.out.append(self.p.ctx.payload(data, (msg.label, *suffix), self.direction, msg.t_first,
                                             msg.t_last, msg.body_wire + (off if exact else 0), m))
        key = message_key(msg.label)
        self.p.out += self.bodies.follow(key, data, self.direction, (msg.label, *suffix), msg.t_first, msg.t_last, m)
        self.p.out += self.parts.follow(parts_of(m), key, data, off, self.direction, (msg.label, *suffix),
                                        msg.t_first, msg.t_last, m)

    # -- errors, gaps, raw
    def fail(self, reason: str) -> None:
        self.p.ctx.error(f"http/1.1 {self.direction}: {reason}")
        self.lead = False
        if self.msg is not None:
            self._finish(truncated=True)
        self._go_raw()

    def _go_raw(self) -> None:
        self.state = "raw"
        self.raw_t = self.t
        self.scan = 1  # not the line that failed
        self.raw_checked = 0

    def _raw(self) -> None:
        """Pass unparsed bytes on; go back to HTTP at the next request/status line.

        A head line ends with a newline, so the search runs only when one arrived, and
        only over the lines since the last search: linear however the bytes come.
        """
        buf = self.buf
        if self.lead and self.wire + len(buf) > MAX_LEAD:
            self.lead = False
            self.p.ctx.error(f"http/1.1 {self.direction}: no start line in the first {MAX_LEAD} bytes")
        nl = buf.rfind(b"\n", self.raw_checked)
        self.raw_checked = len(buf)
        if nl >= 0:
            m = _RESYNC[self.role].search(buf, self.scan)
            if m is not None:
                self._emit_raw(m.start(1))
                self.state = "head"
                self.scan = self.raw_checked = 0
                self.run()
                return
            self.scan = nl + 1
        if len(buf) >= RAW_PIECE:
            keep = min(len(buf) - self.scan, MAX_HEAD)  # a partial line may be a head starting
            self._emit_raw(len(buf) - keep)

    def _emit_raw(self, n: int) -> None:
        if n <= 0:
            return
        data = bytes(self.buf[:n])
        del self.buf[:n]
        tail = self.raw_tail if self.raw_end == self.wire else b""  # not across a hole or a message
        piece = tail + data if tail else data
        self.p.out.append(self.p.ctx.payload(piece, f"http/{self.version} unparsed", self.direction,
                                             self.raw_t, self.t, self.wire - len(tail)))
        self.raw_tail = piece[-RAW_OVERLAP:]
        self.wire += n
        self.raw_end = self.wire
        self.raw_t = self.t
        self.scan = max(0, self.scan - n)
        self.raw_checked = max(0, self.raw_checked - n)

    def gap(self, size: int) -> None:
        if self.state == "switched":
            self.wire += size
            self.p.sub_gap(self.direction, size)
            return
        msg = self.msg
        if self.state == "body" and not self.buf and msg is not None and msg.pipe is not None:
            if msg.framing == "close" or (msg.framing == "length" and size <= msg.remaining):
                msg.pipe.gap(size)
                msg.meta["gaps"] = msg.meta.get("gaps", 0) + 1
                self.wire += size
                if msg.framing == "length":
                    msg.remaining -= size
                    if not msg.remaining:
                        self._finish()
                return
        if self.state != "raw":
            self.fail(f"gap of {size} bytes")
        self._emit_raw(len(self.buf))
        self.wire += size
        self.p.out += self.bodies.close() + self.heads.close()

    def close(self) -> None:
        if self.state == "body" and self.msg is not None:
            self._finish(truncated=self.msg.framing != "close")
        self.p.out += self.bodies.close() + self.heads.close()
        if self.state == "switched":
            return
        self.raw_t = self.raw_t or self.t
        if self.buf.strip():
            self.raw_t = self.t
            self._emit_raw(len(self.buf))


class Http1Parser:
    """HTTP/1.0 and 1.1 over one TCP flow (either side may be the instrument)."""

    name: ClassVar[str] = "http/1.1"

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        # either side may be the client (the instrument may serve); a whole start line after
        # leading junk (keep-alive byte, mid-stream pickup) counts too
        return bool(_DETECT_REQUEST.match(first_out) or _DETECT_REQUEST.match(first_in)
                    or first_in.startswith(b"HTTP/1.") or first_out.startswith(b"HTTP/1.")
                    or _RESYNC[""].search(first_out) or _RESYNC[""].search(first_in))

    @staticmethod
    def begins(data: bytes) -> bool:
        """A whole request or status line starts at ``data[0]`` (HTTP after a SOCKS or login preamble)."""
        return bool(_RESYNC[""].match(data))

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.out: list[Payload | Observation] = []
        self.requests: deque[_Request] = deque()
        self.sides = {"out": _Side(self, "out"), "in": _Side(self, "in")}
        self.sub: Any = None
        self.doh = DohReader(ctx)

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        self.sides[direction].feed(data, t)
        return self._take()

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        self.sides[direction].gap(size)
        return self._take()

    def idle(self, t: float) -> list[Payload | Observation]:
        """The flow went quiet: a tunnel hands over what it holds back, DNS over HTTPS its names."""
        if self.sub is not None and hasattr(self.sub, "idle"):
            self.out.extend(self.sub.idle(t))
        for side in self.sides.values():
            self.out += side.bodies.idle() + side.heads.idle()
        out = self._take()
        return out + self.doh.idle()

    def close(self, t: float) -> list[Payload | Observation]:
        for side in self.sides.values():
            side.t = max(side.t, t)
            side.close()
        if self.sub is not None:
            self.out.extend(self.sub.close(t))
        out = self._take()
        return out + self.doh.close()

    def _take(self) -> list[Payload | Observation]:
        out, self.out = self.out, []
        return self.doh.read(out)

    # -- protocol switch (101 Switching Protocols, CONNECT 2xx)
    def switch(self, req: _Request, headers: Headers, response_dir: str) -> None:
        client = req.direction
        offsets = {d: side.wire for d, side in self.sides.items()}
        if req.upgrade == "websocket":
            self.sub = WebSocketParser(self.ctx, client=client, label=req.label,
                                       extensions=headers.get("sec-websocket-extensions", ""),
                                       offsets=offsets, protocol=headers.get("sec-websocket-protocol", ""))
        elif req.upgrade == "h2c":
            self.sub = Http2Parser(self.ctx, upgrade=(req.label, req.meta), client=client, offsets=offsets)
        else:
            kind = "tunnel" if req.upgrade == "connect" else f"upgrade:{req.upgrade}"
            self.sub = Tunnel(self.ctx, req.label, kind, offsets, client)
        for side in self.sides.values():
            side.state = "switched"
        # bytes already buffered behind the switch belong to the new protocol
        for direction in (response_dir, client):
            side = self.sides[direction]
            side._to_sub(bytes(side.buf))

    def sub_feed(self, direction: str, data: bytes, t: float) -> None:
        self.out.extend(self.sub.feed(direction, data, t))

    def sub_gap(self, direction: str, size: int) -> None:
        self.out.extend(self.sub.gap(direction, size))


class Tunnel:
    """Bytes after CONNECT or an unknown Upgrade: passed on as they are, in bounded pieces.

    A CONNECT whose client begins a TLS handshake (a proxied HTTPS connection: what a regular-mode
    rig carries) goes to the TLS parser instead, as a TLS connection of its own would: its metadata,
    the fake-TLS probe, its ciphertext counted (opaque volume when it stays encrypted) rather than
    correlated, since the rig's decryption hands its plaintext over on its own lane.  The server
    speaking first, or anything else from the client, keeps the tunnel raw.
    """

    def __init__(self, ctx: FlowContext, label: str, kind: str, offsets: dict[str, int],
                 client: str | None = None) -> None:
        self.ctx = ctx
        self.labels = (label, kind)
        self.bufs: dict[str, bytearray] = {"out": bytearray(), "in": bytearray()}
        self.t: dict[str, tuple[float, float]] = {}
        self.offset = dict(offsets)
        self.undecided = client if kind == "tunnel" else None   # the side whose first bytes may be TLS
        self.tls: TlsParser | None = None

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        if self.tls is not None:
            return self.tls.feed(direction, data, t)
        buf = self.bufs[direction]
        first = self.t.get(direction, (t, t))[0] if buf else t
        self.t[direction] = (first, t)
        buf += data
        if self.undecided is not None:
            if direction != self.undecided:
                self.undecided = None
            elif len(buf) < TLS_HEAD:
                return []
            else:
                self.undecided = None
                if TlsParser.begins(bytes(buf[:TLS_HEAD])):
                    self.tls = TlsParser(self.ctx, label=(self.labels[0],))
                    held, self.bufs[direction] = bytes(buf), bytearray()
                    return self.tls.feed(direction, held, first)
        return self._flush(direction) if len(buf) >= RAW_PIECE else []

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        if self.tls is not None:
            return self.tls.gap(direction, size)
        self.undecided = None
        out = self._flush(direction)
        self.offset[direction] += size
        return out

    def idle(self, t: float) -> list[Payload | Observation]:
        """The flow went quiet: what is held back goes to the correlator now."""
        if self.tls is not None:
            return self.tls.idle(t)
        return [] if self.undecided is not None else self._flush("out")

    def close(self, t: float) -> list[Payload | Observation]:
        if self.tls is not None:
            return self.tls.close(t)
        return self._flush("out") + self._flush("in")

    def _flush(self, direction: str) -> list[Payload | Observation]:
        buf = self.bufs[direction]
        if not buf:
            return []
        t0, t1 = self.t[direction]
        p = self.ctx.payload(bytes(buf), self.labels, direction, t0, t1, self.offset[direction])
        self.offset[direction] += len(buf)
        buf.clear()
        return [p]
