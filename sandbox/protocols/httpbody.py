"""HTTP body handling shared by HTTP/1, HTTP/2 and gRPC: framing, content codings, sinks.

A body travels: transfer framing (``ChunkedDecoder`` for HTTP/1 chunked) -> ``BodyPipe``
(content codings undone: gzip incl. multi-member, deflate, br, zstd, S3 ``aws-chunked``)
-> a sink (multipart parts, gRPC messages, or plain pieces) -> ``emit``.  It lives apart
from the HTTP/1 parser so that each HTTP flavour frames its own bytes and shares the rest.
Decoding is bounded (expansion ratio, output per call): bombs are normal input here.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import brotli
import zstandard

from sandbox.protocols.multipart import MultipartSplitter, boundary_of

# Bodies are emitted in pieces of at most this size: bounds memory per flow direction
# while keeping a whole typical upload (a FASTQ chunk, a JSON batch) in one Payload.
MAX_BODY_PIECE = 64 * 1024 * 1024
# Chunk-size line incl. extensions; S3 aws-chunked signature lines are ~90 bytes.
MAX_CHUNK_LINE = 4096
# Chunked trailers (e.g. x-amz-checksum-crc32, grpc-status): a few short lines.
MAX_TRAILERS = 64 * 1024
# Decompression bombs are normal input: stop decoding past this ratio (DESIGN: bounded).
MAX_EXPANSION_RATIO = 1000
RATIO_SLACK = 1024 * 1024  # small bodies may legitimately expand a lot (a run of zeros)
DECODE_STEP = 1024 * 1024  # output per decompressor call, so one call never balloons
ZSTD_SLICE = 1024  # zstd RLE blocks reach ~32768x; 1 KiB input slices bound one call at 32 MiB

# emit(data, chain_suffix, meta, body_offset_of_data)
Emit = Callable[[bytes, tuple[str, ...], dict, int], None]


# --------------------------------------------------------------------------- codings


class CodingError(ValueError):
    """Bad framing or coding in a body (also raised by HTTP/1 for a bad head)."""


class _Coding:
    """One content coding, decoded incrementally; on error it passes input through raw."""

    name = ""

    def __init__(self) -> None:
        self.failed = ""  # set when decoding stopped: the rest passes through raw
        self.note = ""  # decoded, with a remark (e.g. stream truncated)
        self.inp = 0
        self.outp = 0

    def feed(self, data: bytes) -> bytes:
        if self.failed:
            return data
        self.inp += len(data)
        try:
            return self._feed(data)
        except (CodingError, zlib.error, brotli.error, zstandard.ZstdError, ValueError) as exc:
            self.failed = f"{self.name}: {exc}"
            return data

    def end(self) -> bytes:
        if self.failed:
            return b""
        try:
            return self._end()
        except (CodingError, zlib.error, brotli.error, zstandard.ZstdError, ValueError) as exc:
            self.failed = f"{self.name}: {exc}"
            return b""

    def _account(self, chunk: bytes) -> bytes:
        self.outp += len(chunk)
        if self.outp > MAX_EXPANSION_RATIO * self.inp + RATIO_SLACK:
            raise CodingError(f"limit: expansion ratio {MAX_EXPANSION_RATIO}x reached")
        return chunk

    def _feed(self, data: bytes) -> bytes:
        raise NotImplementedError

    def _end(self) -> bytes:
        return b""


class _Zlib(_Coding):
    """gzip (multi-member) and deflate (zlib-wrapped or raw, as servers disagree)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._d: Any = None
        self._head = b""

    def _new(self, first: bytes) -> Any:
        if self.name != "deflate":
            return zlib.decompressobj(31)
        zlib_header = first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        return zlib.decompressobj(15 if zlib_header else -15)

    def _feed(self, data: bytes) -> bytes:
        if self._d is None or self._d.eof:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            self._head = b""
            if self._d is not None and (self.name == "deflate" or not data.strip(b"\0")):
                return b""  # trailing bytes after the stream: nothing to decode
            self._d = self._new(data)
        out = []
        while True:
            chunk = self._account(self._d.decompress(data, DECODE_STEP))
            out.append(chunk)
            data = self._d.unconsumed_tail
            if self._d.eof:
                rest = self._d.unused_data
                if self.name != "deflate" and rest.strip(b"\0"):
                    self._d = self._new(rest)  # next gzip member
                    data = rest
                    continue
                break
            if not data and len(chunk) < DECODE_STEP:
                break
        return b"".join(out)

    def _end(self) -> bytes:
        if self._d is None or self._d.eof:
            return b""
        self.note = f"{self.name}: stream truncated"
        return self._account(self._d.flush())


class _Brotli(_Coding):
    """br, with output capped per call so one small input cannot balloon in one step."""

    name = "br"

    def __init__(self) -> None:
        super().__init__()
        self._d = brotli.Decompressor()

    def _feed(self, data: bytes) -> bytes:
        out = [self._account(self._d.process(data, output_buffer_limit=DECODE_STEP))]
        while not self._d.can_accept_more_data():
            out.append(self._account(self._d.process(b"", output_buffer_limit=DECODE_STEP)))
        return b"".join(out)


class _Zstd(_Coding):
    """zstd, multi-frame; input fed in ZSTD_SLICE slices since its API has no output cap."""

    name = "zstd"

    def __init__(self) -> None:
        super().__init__()
        self._d: Any = zstandard.ZstdDecompressor().decompressobj()

    def _feed(self, data: bytes) -> bytes:
        view = memoryview(data)
        out = []
        i = 0
        while i < len(view):
            if self._d.eof:  # next frame
                self._d = zstandard.ZstdDecompressor().decompressobj()
            piece = view[i : i + ZSTD_SLICE]
            out.append(self._account(self._d.decompress(piece)))
            i += ZSTD_SLICE
            rest = self._d.unused_data if self._d.eof else b""
            if rest:
                i -= len(rest)
        return b"".join(out)


class ChunkedDecoder:
    """RFC 9112 chunked framing, incremental; also S3 ``aws-chunked`` (signed chunks).

    ``feed`` returns the decoded bytes and how much of the input belonged to the body, so
    the caller knows where the next message starts.  Raises CodingError on bad framing.
    """

    def __init__(self) -> None:
        self._state = "size"
        self._remaining = 0
        self._line = bytearray()
        self.trailers = bytearray()
        self.done = False
        self.extensions: list[bytes] = []

    def feed(self, data: bytes) -> tuple[list[bytes], int]:
        out: list[bytes] = []
        i, n = 0, len(data)
        while i < n and not self.done:
            if self._state == "data":
                k = min(self._remaining, n - i)
                out.append(data[i : i + k] if k < n else data)
                i += k
                self._remaining -= k
                if not self._remaining:
                    self._state = "data-end"
                continue
            j = data.find(b"\n", i)
            if j < 0:
                self._line += data[i:]
                i = n
                if len(self._line) > (MAX_TRAILERS if self._state == "trailers" else MAX_CHUNK_LINE):
                    raise CodingError(f"chunked {self._state} line over limit")
                break
            self._line += data[i:j]
            i = j + 1
            line = bytes(self._line).rstrip(b"\r")
            self._line.clear()
            self._on_line(line)
        return out, i

    def _on_line(self, line: bytes) -> None:
        if self._state == "data-end":
            if line.strip():
                raise CodingError("chunk data not followed by CRLF")
            self._state = "size"
        elif self._state == "size":
            size, _, ext = line.partition(b";")
            size = size.strip()
            if not size or len(size) > 16 or size.strip(b"0123456789abcdefABCDEF"):
                raise CodingError(f"bad chunk size line {line[:40]!r}")
            if ext and len(self.extensions) < 4:
                self.extensions.append(ext.strip())
            self._remaining = int(size, 16)
            self._state = "data" if self._remaining else "trailers"
        else:  # trailers, ended by an empty line
            if not line:
                self.done = True
                return
            self.trailers += line + b"\n"
            if len(self.trailers) > MAX_TRAILERS:
                raise CodingError("chunked trailers over limit")


class _AwsChunked(_Coding):
    """``Content-Encoding: aws-chunked`` (S3 SigV4 streaming, flexible checksums)."""

    name = "aws-chunked"

    def __init__(self) -> None:
        super().__init__()
        self.chunked = ChunkedDecoder()

    def _feed(self, data: bytes) -> bytes:
        if self.chunked.done:
            return b""
        out, _ = self.chunked.feed(data)
        return b"".join(out)


def make_coding(name: str) -> _Coding | None:
    """A decoder for one Content-Encoding token, None when we do not know it."""
    name = name.strip().lower()
    if name in ("gzip", "x-gzip", "deflate"):
        return _Zlib("gzip" if name == "x-gzip" else name)
    if name == "br":
        return _Brotli()
    if name == "zstd":
        return _Zstd()
    if name == "aws-chunked":
        return _AwsChunked()
    return None


def decoding_order(header: str) -> list[str]:
    """Content codings in the order to undo them (last applied first; aws-chunked outermost)."""
    names = [n.strip().lower() for n in header.split(",") if n.strip()]
    names = [n for n in names if n != "identity"]
    aws = [n for n in names if n == "aws-chunked"]
    return aws + [n for n in reversed(names) if n != "aws-chunked"]


# --------------------------------------------------------------------------- sinks


class PlainSink:
    """Collects a body and emits it whole, or in pieces of ``piece`` bytes."""

    def __init__(self, emit: Emit, piece: int | None = None) -> None:
        self._emit = emit
        self._piece = piece or MAX_BODY_PIECE
        self._parts: list[bytes] = []
        self._size = 0
        self._offset = 0  # body offset of _parts[0]
        self.emitted = 0

    def feed(self, data: bytes) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= self._piece:
            self.flush(whole_pieces=True)

    def flush(self, whole_pieces: bool = False) -> None:
        data = b"".join(self._parts)
        self._parts.clear()
        start = 0
        while len(data) - start >= (self._piece if whole_pieces else 1):
            piece = data[start : start + self._piece]
            meta = {"piece": self.emitted} if self.emitted or len(data) > self._piece else {}
            self._emit(piece, (), meta, self._offset)
            self.emitted += 1
            self._offset += len(piece)
            start += len(piece)
        rest = data[start:]
        self._parts = [rest] if rest else []
        self._size = len(rest)

    def gap(self, size: int) -> None:
        self.flush()
        self._offset += size

    def end(self) -> None:
        self.flush()


def make_sink(content_type: str, emit: Emit, piece: int | None = None,
              grpc_encoding: str = "") -> Any:
    """The body sink for a content type: multipart parts, gRPC messages, or the whole body."""
    boundary = boundary_of(content_type.encode("latin-1", "replace"))
    if boundary:
        return MultipartSplitter(boundary, emit)
    ct = content_type.strip().lower()
    if ct.startswith("application/grpc") and not ct.startswith("application/grpc-web-text"):
        from sandbox.protocols.grpc import GrpcMessages

        return GrpcMessages(grpc_encoding, emit, web=ct.startswith("application/grpc-web"))
    return PlainSink(emit, piece)


class BodyPipe:
    """Transfer-decoded body -> content codings -> sink; chain suffix says what was undone."""

    def __init__(self, content_encoding: str, content_type: str, emit: Emit,
                 piece: int | None = None, grpc_encoding: str = "") -> None:
        self.codings: list[_Coding] = []
        for name in decoding_order(content_encoding):
            coding = make_coding(name)
            if coding is None:
                break  # unknown coding: leave it and what is inside it to the decoders
            self.codings.append(coding)
        self._emit = emit
        self.sink = make_sink(content_type, self._emit_decoded, piece, grpc_encoding)
        self.wire_exact = not self.codings  # body offsets equal wire offsets

    def _emit_decoded(self, data: bytes, suffix: tuple[str, ...], meta: dict, offset: int) -> None:
        done = tuple(f"content-encoding:{c.name}" for c in self.codings if not c.failed)
        errors = [c.failed for c in self.codings if c.failed]
        if errors:
            meta = {**meta, "decode_errors": errors}
        trailers = [c.chunked.trailers for c in self.codings if isinstance(c, _AwsChunked) and c.chunked.trailers]
        if trailers:  # x-amz-checksum-*: the checksum of the object, worth keeping
            meta = {**meta, "trailers": bytes(trailers[0][:512]).decode("latin-1")}
        self._emit(data, done + suffix, meta, offset)

    def feed(self, data: bytes) -> None:
        for coding in self.codings:
            if not data:
                return
            data = coding.feed(data)
        if data:
            self.sink.feed(data)

    def gap(self, size: int) -> None:
        """A hole in the body: codings cannot resume past it, the sink may."""
        for coding in self.codings:
            if not coding.failed:
                coding.failed = f"{coding.name}: gap of {size} bytes in the stream"
        if hasattr(self.sink, "gap"):
            self.sink.gap(size)

    def end(self) -> None:
        """Flush every coding in turn (a truncated stream still yields what it decoded)."""
        data = b""
        for coding in self.codings:
            data = coding.feed(data) if data else b""
            data += coding.end()
        if data:
            self.sink.feed(data)
        self.sink.end()

    @property
    def errors(self) -> list[str]:
        """Why decoding stopped or what it noticed, per coding: for FlowInfo.errors."""
        return [c.failed or c.note for c in self.codings if c.failed or c.note]
