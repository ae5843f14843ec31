"""The frames our mitmproxy addon sends the rig over a local socket (standard library only: the addon
imports this module inside mitmproxy's own environment).

A frame: ``!IBdI`` (length of what follows the length field, kind, event time, connection number),
``!I`` length of a JSON object, the object, then raw bytes (a body piece, a message).  Heads travel
in the JSON (header bytes as latin-1, which maps every byte to one character and back).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HEAD = struct.Struct("!IBdII")
# A frame larger than this is not one our addon wrote (body pieces are cut well below it).
MAX_FRAME = 64 << 20
# Body pieces and messages are cut to this size before they are framed.
MAX_PIECE = 4 << 20

HELLO, CONN, REQUEST, BODY, END, RESPONSE, WEBSOCKET, TCP, CLOSE = range(1, 10)
NAMES = {HELLO: "hello", CONN: "conn", REQUEST: "request", BODY: "body", END: "end", RESPONSE: "response",
         WEBSOCKET: "websocket", TCP: "tcp", CLOSE: "close"}


class FrameError(ValueError):
    """Bytes on the socket that are not a frame of ours."""


@dataclass(slots=True)
class Event:
    kind: int
    t: float
    conn: int
    meta: dict[str, Any] = field(default_factory=dict)
    data: bytes = b""


def encode_head(kind: int, t: float, conn: int, meta: dict[str, Any] | None, size: int) -> bytes:
    """A frame without its ``size`` raw bytes (sent after it: a body piece is never copied)."""
    blob = json.dumps(meta or {}, separators=(",", ":")).encode()
    return HEAD.pack(HEAD.size - 4 + len(blob) + size, kind, t, conn, len(blob)) + blob


def encode(kind: int, t: float, conn: int, meta: dict[str, Any] | None = None, data: bytes = b"") -> bytes:
    return encode_head(kind, t, conn, meta, len(data)) + data


class Decoder:
    """Frames out of a byte stream fed in arbitrary pieces."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> Iterator[Event]:
        buf = self.buf
        buf += data
        pos = 0
        try:
            while len(buf) - pos >= HEAD.size:
                length, kind, t, conn, meta_len = HEAD.unpack_from(buf, pos)
                if length > MAX_FRAME or kind not in NAMES or meta_len > length - (HEAD.size - 4):
                    raise FrameError(f"not a frame of ours at byte {pos} (kind {kind}, length {length})")
                end = pos + 4 + length
                if len(buf) < end:
                    break
                start = pos + HEAD.size
                try:
                    meta = json.loads(bytes(buf[start: start + meta_len])) if meta_len else {}
                except ValueError as exc:
                    raise FrameError(f"bad frame metadata at byte {pos}: {exc}") from None
                if not isinstance(meta, dict):
                    raise FrameError(f"bad frame metadata at byte {pos}")
                with memoryview(buf) as view:
                    data = bytes(view[start + meta_len: end])
                yield Event(kind, t, conn, meta, data)
                pos = end
        finally:
            del buf[:pos]


def fields(headers: list[list[str]]) -> list[tuple[bytes, bytes]]:
    """Header fields from their JSON form back to bytes."""
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
