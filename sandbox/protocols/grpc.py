"""gRPC message framing inside an HTTP/2 (or gRPC-Web HTTP/1) body: one Payload per message.

A gRPC body is a sequence of ``flag(1) length(4) message``; flag bit 0 says the message
is compressed with the stream's ``grpc-encoding`` (gzip, deflate, zstd).  gRPC-Web adds
flag bit 7 for a trailers frame (text headers, no data).  The HTTP parsers build a
``GrpcMessages`` sink for bodies whose content-type is ``application/grpc*``.
"""

from __future__ import annotations

import struct

from sandbox.protocols.httpbody import MAX_BODY_PIECE, Emit, make_coding

# gRPC's default max receive message is 4 MiB; servers raise it to tens of MiB for bulk
# uploads.  A message above this is emitted in pieces (compressed pieces stay compressed).
MAX_GRPC_MESSAGE = MAX_BODY_PIECE
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
            coding = make_coding(self.encoding)
            if coding is None:
                meta["grpc_encoding"] = self.encoding  # e.g. snappy: left to the decoders
            else:
                plain = coding.feed(data) + coding.end()
                if coding.failed:
                    meta["decode_errors"] = [coding.failed]
                else:
                    data = plain
                    suffix = ("grpc", f"grpc-encoding:{self.encoding}")
        self._emit(data, suffix, meta, self._offset)
        if last:
            self._pieces = 0
            self.messages += 1
        else:
            self._pieces += 1
