"""mitmproxy's view of one TLS connection written back in the wire form its plaintext had.

mitmproxy hands the addon parsed messages (heads, body pieces, WebSocket and TCP messages); a
replay of the raw recording gets the TLS plaintext bytes from tshark.  So that both feed the same
parsers the same content, each message is framed again as the instrument's protocol frames it:
HTTP/1 heads and bodies (chunked when it was chunked), HTTP/2 frames with HPACK, WebSocket frames
(permessage-deflate again when it was negotiated).  Only framing differs from the wire (whitespace,
chunk and frame boundaries, header order); the content the correlator sees is the same.

Response bodies are not written: only what the instrument sends can leak, and a response head is
kept (as having no body) so the parsers pair requests with answers and follow upgrades.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import hpack

OUT, IN = "out", "in"     # from the client (the instrument), to it
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_DATA, H2_HEADERS, H2_SETTINGS, H2_CONTINUATION = 0, 1, 4, 9
END_STREAM, END_HEADERS = 0x1, 0x4
H2_MAX_FRAME = 16384         # SETTINGS_MAX_FRAME_SIZE default (RFC 9113 6.5.2): every peer accepts it
# Headers whose framing meaning the reframed stream does not keep (bodies are re-framed or dropped).
_FRAMING = (b"content-length", b"transfer-encoding")
_PMD = b"permessage-deflate; client_no_context_takeover; server_no_context_takeover"
_NO_BODY_STATUS = (204, 304)
# Requests of one connection still waiting for their answer's head: clients pipeline a handful, an
# HTTP/2 client may open a few hundred streams; past this the oldest is forgotten (bounded memory).
MAX_OPEN_MESSAGES = 1024

Chunks = list[tuple[str, bytes]]
Fields = list[tuple[bytes, bytes]]


def _h2_frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    return struct.pack(">HBBBI", len(payload) >> 8, len(payload) & 0xFF, ftype, flags, sid) + payload


def _h2_header_block(block: bytes, sid: int, end_stream: bool) -> bytes:
    parts = [block[i: i + H2_MAX_FRAME] for i in range(0, len(block), H2_MAX_FRAME)] or [b""]
    frames = []
    for i, part in enumerate(parts):
        flags = (END_HEADERS if i == len(parts) - 1 else 0) | (END_STREAM if end_stream and i == 0 else 0)
        frames.append(_h2_frame(H2_HEADERS if i == 0 else H2_CONTINUATION, flags, sid, part))
    return b"".join(frames)


def _has_token(value: bytes, token: bytes) -> bool:
    return token in [t.strip().lower() for t in value.split(b",")]


@dataclass
class _Message:
    h2: bool
    sid: int = 0
    chunked: bool = False
    method: bytes = b""


@dataclass
class Reframer:
    """One connection's plaintext, both directions; each call returns ``[(direction, bytes)]``."""

    messages: dict[int, _Message] = field(default_factory=dict)
    h2_started: dict[str, bool] = field(default_factory=lambda: {OUT: False, IN: False})
    encoders: dict[str, hpack.Encoder] = field(default_factory=dict)
    next_sid: int = 1
    ws_deflate: bool = False

    # -- HTTP ---------------------------------------------------------------------------------
    def request(self, msg: int, method: bytes, target: bytes, version: str, headers: Fields,
                scheme: bytes = b"https", authority: bytes = b"") -> Chunks:
        if len(self.messages) >= MAX_OPEN_MESSAGES:
            del self.messages[next(iter(self.messages))]
        if version.upper().startswith("HTTP/2"):
            m = self.messages[msg] = _Message(True, self.next_sid, method=method)
            self.next_sid += 2
            pseudo = [(b":method", method), (b":scheme", scheme or b"https")]
            if authority:
                pseudo.append((b":authority", authority))
            if method != b"CONNECT":
                pseudo.append((b":path", target or b"/"))
            block = self._encoder(OUT).encode(pseudo + list(headers))
            return self._h2_start(OUT) + [(OUT, _h2_header_block(block, m.sid, end_stream=False))]
        chunked = any(k.lower() == b"transfer-encoding" and _has_token(v, b"chunked") for k, v in headers)
        self.messages[msg] = _Message(False, chunked=chunked, method=method)
        line = b"%s %s %s\r\n" % (method, target or b"/", version.encode("ascii", "replace"))
        return [(OUT, line + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n")]

    def body(self, msg: int, data: bytes) -> Chunks:
        m = self.messages.get(msg)
        if m is None or not data:
            return []
        if m.h2:
            return [(OUT, b"".join(_h2_frame(H2_DATA, 0, m.sid, data[i: i + H2_MAX_FRAME])
                                   for i in range(0, len(data), H2_MAX_FRAME)))]
        if m.chunked:
            return [(OUT, b"%x\r\n" % len(data) + data + b"\r\n")]
        return [(OUT, data)]

    def end(self, msg: int, trailers: Fields = ()) -> Chunks:
        m = self.messages.get(msg)
        if m is None:
            return []
        if m.h2:
            if trailers:
                return [(OUT, _h2_header_block(self._encoder(OUT).encode(list(trailers)), m.sid, True))]
            return [(OUT, _h2_frame(H2_DATA, END_STREAM, m.sid, b""))]
        if m.chunked:
            return [(OUT, b"0\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in trailers) + b"\r\n")]
        return []

    def response(self, msg: int, status: int, reason: bytes, version: str, headers: Fields) -> Chunks:
        """The answer's head, as an answer without a body (its body is not the instrument's)."""
        m = self.messages.pop(msg, None)
        kept = [(k, v) for k, v in headers if k.lower() not in _FRAMING]
        if status == 101:
            kept = [(k, _PMD if k.lower() == b"sec-websocket-extensions" and b"permessage-deflate" in v.lower()
                     else v) for k, v in kept]
            self.ws_deflate = any(v == _PMD for _, v in kept)
        if m is not None and m.h2:
            block = self._encoder(IN).encode([(b":status", str(status).encode())] + kept)
            return self._h2_start(IN) + [(IN, _h2_header_block(block, m.sid, end_stream=True))]
        if status >= 200 and status not in _NO_BODY_STATUS and not (m is not None and m.method == b"HEAD"):
            kept.append((b"content-length", b"0"))
        line = b"%s %d %s\r\n" % (version.encode("ascii", "replace"), status, reason)
        return [(IN, line + b"".join(k + b": " + v + b"\r\n" for k, v in kept) + b"\r\n")]

    def _encoder(self, direction: str) -> hpack.Encoder:
        enc = self.encoders.get(direction)
        if enc is None:
            enc = self.encoders[direction] = hpack.Encoder()
        return enc

    def _h2_start(self, direction: str) -> Chunks:
        if self.h2_started[direction]:
            return []
        self.h2_started[direction] = True
        settings = _h2_frame(H2_SETTINGS, 0, 0, b"")
        return [(direction, (PREFACE if direction == OUT else b"") + settings)]

    # -- after an upgrade, and raw TCP --------------------------------------------------------
    def websocket(self, from_client: bool, text: bool, data: bytes) -> Chunks:
        """One whole message as one frame (client frames masked with a zero key: bytes unchanged)."""
        b0 = 0x80 | (0x1 if text else 0x2)
        if self.ws_deflate:
            c = zlib.compressobj(wbits=-15)
            data = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
            data = data[:-4] if data.endswith(b"\x00\x00\xff\xff") else data
            b0 |= 0x40
        mask = 0x80 if from_client else 0
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", b0, mask | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", b0, mask | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mask | 127, n)
        return [(OUT if from_client else IN, head + (b"\0\0\0\0" if from_client else b"") + data)]

    def tcp(self, from_client: bool, data: bytes) -> Chunks:
        return [(OUT if from_client else IN, data)] if data else []
