"""gRPC message framing inside an HTTP/2 (or gRPC-Web HTTP/1) body: one Payload per message.

A gRPC body is a sequence of ``flag(1) length(4) message``; flag bit 0 says the message
is compressed with the stream's ``grpc-encoding`` (gzip, deflate, zstd).  gRPC-Web adds
flag bit 7 for a trailers frame (text headers, no data).  The HTTP parsers build a
``GrpcMessages`` sink for bodies whose content-type is ``application/grpc*``.
A compressed message is decoded in bounded steps; when decoding stops (expansion limit, bad
data) what was decoded goes out with the reason, then the undecoded rest raw (meta ``raw``).
"""

from __future__ import annotations

import struct

from sandbox.decode.codec import Codec, make_codec
from sandbox.decode.limits import LimitHit
from sandbox.decode.protobuf import fields
from sandbox.protocols.sinks import MAX_BODY_PIECE, Emit

# A message most of which is one bytes field (a file's chunk beside its name and offset) carries that
# field: what a client-streaming upload sends a file in, read one message after the other.
CHUNK_SHARE = 0.5


def chunk_of(message: bytes) -> bytes:
    """The bytes field that is most of a protobuf ``message`` (a file's chunk in an upload's stream of
    messages), else the message as it is."""
    found = fields(message)
    if not found:
        return message
    _, start, end = max(found, key=lambda f: f[2] - f[1])
    return message[start:end] if end - start >= CHUNK_SHARE * len(message) else message

# gRPC's default max receive message is 4 MiB; servers raise it to tens of MiB for bulk
# uploads.  A message above this is emitted in pieces (compressed pieces stay compressed).
MAX_GRPC_MESSAGE = MAX_BODY_PIECE
# A message is handed to its decoder in slices of this size: the expansion allowance grows with
# the input, so one call yields at most the ratio times this (or the floor), never the ratio
# times a 64 MiB message.
GRPC_DECODE_SLICE = 16 * 1024
_PREFIX = struct.Struct(">BI")


class GrpcMessages:
    """Incremental splitter of a gRPC body into messages (sink interface: feed/end/gap)."""

    def __init__(self, encoding: str, emit: Emit, web: bool = False) -> None:
        self.encoding = encoding.strip().lower() or "identity"
        self._emit = emit
        self._web = web
        self._buf = bytearray()
        self._offset = 0  # body offset of _buf[0]
        self._need: int | None = None  # length of the message being read
        self._flag = 0
        self._pieces = 0
        self.messages = 0
        self.limits: list[LimitHit] = []  # decoding limits met in compressed messages

    def feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            if self._need is None:
                if len(self._buf) < 5:
                    return
                self._flag, self._need = _PREFIX.unpack_from(self._buf)
                self._drop(5)
            if len(self._buf) >= self._need:
                self._message(bytes(self._buf[: self._need]), last=True)
                self._drop(self._need)
                self._need = None
                continue
            if len(self._buf) >= MAX_GRPC_MESSAGE:
                piece = bytes(self._buf[:MAX_GRPC_MESSAGE])
                self._message(piece, last=False)
                self._drop(len(piece))
                self._need -= len(piece)
            return

    def gap(self, size: int) -> None:
        """A hole in the body: the framing is lost, what is buffered goes out as one piece."""
        if self._buf:
            self._message(bytes(self._buf), last=True, meta={"gap_after": size})
        self._buf.clear()
        self._need = None
        self._offset += size

    def end(self) -> None:
        if self._buf or self._need:
            meta = {"truncated": True} if self._need else {}
            self._message(bytes(self._buf), last=True, meta=meta)
            self._drop(len(self._buf))
            self._need = None

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._offset += n

    def _message(self, data: bytes, last: bool, meta: dict | None = None) -> None:
        meta = {"grpc_message": self.messages, **(meta or {})}
        if self._web and self._flag & 0x80:
            meta["grpc_web_trailers"] = True
        suffix: tuple[str, ...] = ("grpc",)
        compressed = bool(self._flag & 1)
        meta["compressed"] = compressed
        if self._pieces or not last:
            meta["piece"] = self._pieces
        elif compressed and self.encoding != "identity":
            coding = make_codec(self.encoding)
            if coding is None:
                meta["grpc_encoding"] = self.encoding  # e.g. lzo: left to the decoders
            else:
                self._decode(coding, data, meta)
                self.messages += 1
                return
        self._emit(data, suffix, meta, self._offset)
        if last:
            self._pieces = 0
            self.messages += 1
        else:
            self._pieces += 1

    def _decode(self, coding: Codec, data: bytes, meta: dict) -> None:
        """Emit a compressed message decoded, in pieces of at most ~MAX_GRPC_MESSAGE.

        When decoding stops, what it decoded goes out first (it may hold the real data before
        a bomb), with the reason, then the compressed rest raw: still scanned, never lost.
        """
        decoded = ("grpc", f"grpc-encoding:{self.encoding}")
        parts: list[bytes] = []
        size = pieces = 0
        raw = b""

        def out(chunk: bytes, suffix: tuple[str, ...], more: bool, extra: dict) -> None:
            nonlocal pieces
            piece = {"piece": pieces} if pieces or more else {}
            self._emit(chunk, suffix, {**meta, **piece, **extra}, self._offset)
            pieces += 1

        for i in range(0, len(data), GRPC_DECODE_SLICE):
            chunk, raw = coding.feed_split(data[i : i + GRPC_DECODE_SLICE])
            parts.append(chunk)
            size += len(chunk)
            if coding.failed:
                raw += data[i + GRPC_DECODE_SLICE :]
                break
            if size >= MAX_GRPC_MESSAGE:
                out(b"".join(parts), decoded, True, {})
                parts, size = [], 0
        else:
            chunk, raw = coding.end_split()
            parts.append(chunk)
        note = {"decode_errors": [coding.failed]} if coding.failed else {}
        if coding.status == "limit":
            self.limits.append(LimitHit(coding.hit, f"grpc-encoding:{self.encoding}", ("grpc",), len(raw)))
        text = b"".join(parts)
        if text or not (pieces or raw):
            out(text, decoded, bool(raw), note)
        if raw:
            out(raw, ("grpc",), False, {**note, "raw": True})
