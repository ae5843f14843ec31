"""HTTP body handling shared by HTTP/1, HTTP/2 and gRPC: framing, content codings, sinks.

A body travels: transfer framing (``ChunkedDecoder`` for HTTP/1 chunked) -> ``BodyPipe``
(content codings undone: gzip incl. multi-member, deflate, br, zstd, S3 ``aws-chunked``)
-> a sink (multipart parts, gRPC messages, or plain pieces) -> ``emit``.  It lives apart
from the HTTP/1 parser so that each HTTP flavour frames its own bytes and shares the rest.
Decoding is bounded (expansion ratio, output per call): bombs are normal input here; a
coding that stops keeps what it decoded and passes the input it did not decode on raw.
"""

from __future__ import annotations

import zlib
from collections import deque
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
DECODE_STEP = 1024 * 1024  # output per zlib/brotli call, so one call never balloons
# zstd's densest block is RLE: 4 bytes (3 header + 1) -> 128 KiB (RFC 8878 Block_Maximum_Size).
ZSTD_MAX_RATIO = 32768
# zstd has no output cap, so its input goes in slices sized to the remaining ratio budget:
# one call then yields at most that budget (or 16 B -> 512 KiB when the budget is nearly spent).
ZSTD_SLICE_MIN = 16
ZSTD_SLICE_MAX = 256 * 1024  # keeps the slice count per call small on ordinary data
# zstd decodes whole blocks: up to one block (128 KiB + header) of input may sit in the
# decoder without output yet; when decoding stops, that much earlier input goes out raw again.
ZSTD_HOLD = 128 * 1024 + 64
# Nobody stacks more than two or three codings; a long list only costs time (and recursion).
MAX_CODINGS = 8

# emit(data, chain_suffix, meta, body_offset_of_data)
Emit = Callable[[bytes, tuple[str, ...], dict, int], None]


# --------------------------------------------------------------------------- codings


class CodingError(ValueError):
    """Bad framing or coding in a body (also raised by HTTP/1 for a bad head)."""


class _Stop(Exception):
    """Decoding stops here (limit reached); ``rest`` is the input left undecoded."""

    def __init__(self, reason: str, rest: bytes) -> None:
        super().__init__(reason)
        self.rest = rest


_DECODE_ERRORS = (CodingError, zlib.error, brotli.error, zstandard.ZstdError, ValueError)


class _Coding:
    """One content coding, decoded incrementally.

    When decoding stops (bad data, expansion limit) everything decoded so far is kept and
    the input not decoded yet passes on raw, from then on too: a bomb must not hide the
    real bytes before it, and the raw rest can still match byte fingerprints.
    """

    name = ""

    def __init__(self) -> None:
        self.failed = ""  # set when decoding stopped: the rest passes through raw
        self.note = ""  # decoded, with a remark (e.g. stream truncated)
        self.inp = 0
        self.outp = 0
        self._out: list[bytes] = []

    def feed(self, data: bytes) -> bytes:
        """Decoded bytes, followed (once decoding stopped) by the input left undecoded."""
        decoded, raw = self.feed_split(data)
        return decoded + raw if raw else decoded

    def feed_split(self, data: bytes) -> tuple[bytes, bytes]:
        """(decoded, raw): raw is input passed on undecoded because decoding has stopped."""
        if self.failed:
            return b"", data
        self.inp += len(data)
        try:
            self._feed(data)
        except _Stop as exc:
            self.failed = f"{self.name}: {exc}"
            return self._take(), exc.rest
        except _DECODE_ERRORS as exc:
            self.failed = f"{self.name}: {exc}"
            return self._take(), self._unsent(data)
        return self._take(), b""

    def end(self) -> bytes:
        """What the decoder still holds at the end of the body, decoded then raw."""
        decoded, raw = self.end_split()
        return decoded + raw if raw else decoded

    def end_split(self) -> tuple[bytes, bytes]:
        """(decoded, raw) left at the end of the body (bounded like feed)."""
        if self.failed:
            return b"", b""
        try:
            self._end()
        except _Stop as exc:
            self.failed = f"{self.name}: {exc}"
            return self._take(), exc.rest
        except _DECODE_ERRORS as exc:
            self.failed = f"{self.name}: {exc}"
        return self._take(), b""

    def _keep(self, chunk: bytes) -> bool:
        """Keep decoded output; True once the expansion limit is passed (caller stops)."""
        if chunk:
            self._out.append(chunk)
            self.outp += len(chunk)
        return self._budget() < 0

    def _budget(self) -> int:
        return MAX_EXPANSION_RATIO * self.inp + RATIO_SLACK - self.outp

    def _limit(self, rest: bytes) -> _Stop:
        return _Stop(f"limit: expansion ratio {MAX_EXPANSION_RATIO}x reached", rest)

    def _take(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def _unsent(self, data: bytes) -> bytes:
        """Input to pass on raw when decoding data failed: all of it (we cannot tell more)."""
        return data

    def _feed(self, data: bytes) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        return None


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

    def _feed(self, data: bytes) -> None:
        if self._d is None or self._d.eof:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return
            self._head = b""
            if self._d is not None and (self.name == "deflate" or not data.strip(b"\0")):
                return  # trailing bytes after the stream: nothing to decode
            self._d = self._new(data)
        while True:
            chunk = self._d.decompress(data, DECODE_STEP)
            data = self._d.unconsumed_tail  # inflate streams: only this is still undecoded
            more = False
            if self._d.eof:
                data = self._d.unused_data
                more = self.name != "deflate" and bool(data.strip(b"\0"))
                if more:
                    self._d = self._new(data)  # next gzip member
            if self._keep(chunk):
                raise self._limit(data)
            if self._d.eof and not more:
                return
            if not data and len(chunk) < DECODE_STEP:
                return

    def _end(self) -> None:
        if self._d is None or self._d.eof:
            return
        self.note = f"{self.name}: stream truncated"
        # _feed drained all input, so flush only returns the little inflate still buffers
        if self._keep(self._d.flush()):
            raise self._limit(b"")


class _Brotli(_Coding):
    """br, with output capped per call so one small input cannot balloon in one step."""

    name = "br"

    def __init__(self) -> None:
        super().__init__()
        self._d = brotli.Decompressor()

    def _feed(self, data: bytes) -> None:
        # each call drains the decoder, so on a stop all it may hold is this call's input
        if self._keep(self._d.process(data, output_buffer_limit=DECODE_STEP)):
            raise self._limit(data)
        while not self._d.can_accept_more_data():
            if self._keep(self._d.process(b"", output_buffer_limit=DECODE_STEP)):
                raise self._limit(data)


class _Zstd(_Coding):
    """zstd, multi-frame; input fed in slices sized so one call stays within the budget.

    zstd decodes whole blocks, so input of the current frame may sit in the decoder with no
    output yet; when decoding stops, up to ZSTD_HOLD bytes of it go out raw again.
    """

    name = "zstd"

    def __init__(self) -> None:
        super().__init__()
        self._d: Any = zstandard.ZstdDecompressor().decompressobj()
        self._recent: deque[bytes] = deque()  # the current frame's last input, >= ZSTD_HOLD
        self._recent_size = 0
        self._start = 0  # where the current frame starts in the data being fed
        self._pos = 0  # where the slice being decoded starts

    def _feed(self, data: bytes) -> None:
        view = memoryview(data)
        self._start = self._pos = 0
        while self._pos < len(view):
            if self._d.eof:  # next frame: the previous one was decoded whole
                self._d = zstandard.ZstdDecompressor().decompressobj()
                self._recent.clear()
                self._recent_size = 0
                self._start = self._pos
            size = min(ZSTD_SLICE_MAX, max(ZSTD_SLICE_MIN, self._budget() // ZSTD_MAX_RATIO))
            piece = view[self._pos : self._pos + size]
            chunk = self._d.decompress(piece)
            self._pos += len(piece)
            if self._d.eof:
                self._pos -= len(self._d.unused_data)
            if self._keep(chunk):
                raise self._limit(self._unsent(data))
        if self._d.eof:
            self._recent.clear()
            self._recent_size = 0
        elif data:
            keep = max(self._start, len(data) - ZSTD_HOLD)
            self._recent.append(data[keep:] if keep else data)
            self._recent_size += len(self._recent[-1])
            while self._recent_size - len(self._recent[0]) >= ZSTD_HOLD:
                self._recent_size -= len(self._recent.popleft())

    def _unsent(self, data: bytes) -> bytes:
        """From the current slice on, plus the frame's input the decoder may still hold."""
        held = b"".join(self._recent) + data[self._start : self._pos]
        return held[-ZSTD_HOLD:] + data[self._pos :]

    def _end(self) -> None:
        if self._recent_size and not self._d.eof:  # a partial block never decodes: keep it raw
            raise _Stop("stream truncated", b"".join(self._recent)[-ZSTD_HOLD:])


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

    def _feed(self, data: bytes) -> None:
        if not self.chunked.done:
            out, _ = self.chunked.feed(data)
            self._out += out


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
    """Transfer-decoded body -> content codings -> sink; chain suffix says what was undone.

    When a coding stops (bad data, expansion limit, gap) what it decoded goes on to the
    sink first, then its undecoded input, raw.  The chain only names codings undone over
    the whole piece; meta ``decode_errors`` says why one stopped and ``raw_from`` the body
    offset where its raw input begins (bytes before it in the piece were decoded).
    """

    def __init__(self, content_encoding: str, content_type: str, emit: Emit,
                 piece: int | None = None, grpc_encoding: str = "") -> None:
        self.codings: list[_Coding] = []
        for name in decoding_order(content_encoding)[:MAX_CODINGS]:
            coding = make_coding(name)
            if coding is None:
                break  # unknown coding: leave it and what is inside it to the decoders
            self.codings.append(coding)
        self._emit = emit
        self.sink = make_sink(content_type, self._emit_decoded, piece, grpc_encoding)
        self.wire_exact = not self.codings  # body offsets equal wire offsets
        self._fed = 0  # body offset: bytes handed to the sink plus gaps
        self._raw_from: int | None = None

    def _emit_decoded(self, data: bytes, suffix: tuple[str, ...], meta: dict, offset: int) -> None:
        done: tuple[str, ...] = ()
        for c in self.codings:
            if c.failed:
                break  # inner codings never saw the raw rest of a stopped outer one
            done += (f"content-encoding:{c.name}",)
        errors = [c.failed for c in self.codings if c.failed]
        if errors:
            meta = {**meta, "decode_errors": errors}
        if self._raw_from is not None:
            meta = {**meta, "raw_from": self._raw_from}
        trailers = [c.chunked.trailers for c in self.codings if isinstance(c, _AwsChunked) and c.chunked.trailers]
        if trailers:  # x-amz-checksum-*: the checksum of the object, worth keeping
            meta = {**meta, "trailers": bytes(trailers[0][:512]).decode("latin-1")}
        self._emit(data, done + suffix, meta, offset)

    def feed(self, data: bytes) -> None:
        self._pass(0, data)

    def _pass(self, k: int, data: bytes) -> None:
        """Run data through codings k.. into the sink; a stopped coding hands on its rest raw."""
        for i in range(k, len(self.codings)):
            if not data:
                return
            coding = self.codings[i]
            fresh = not coding.failed
            data, raw = coding.feed_split(data)
            if coding.failed:
                self._hand_on(i, data, raw, fresh)
                return
        self._to_sink(data)

    def _hand_on(self, i: int, decoded: bytes, raw: bytes, raw_next: bool) -> None:
        """A stopped coding: what it decoded goes on through the inner codings, then its rest."""
        self._pass(i + 1, decoded)
        if (raw or raw_next) and self._raw_from is None:
            self._raw_from = self._fed
        self._to_sink(raw)

    def _to_sink(self, data: bytes) -> None:
        if data:
            self._fed += len(data)
            self.sink.feed(data)

    def gap(self, size: int) -> None:
        """A hole in the body: codings cannot resume past it, the sink may."""
        for coding in self.codings:
            if not coding.failed:
                coding.failed = f"{coding.name}: gap of {size} bytes in the stream"
                if self._raw_from is None:
                    self._raw_from = self._fed + size
        self._fed += size
        if hasattr(self.sink, "gap"):
            self.sink.gap(size)

    def end(self) -> None:
        """Flush every coding in turn (a truncated stream still yields what it decoded)."""
        for i, coding in enumerate(self.codings):
            self._hand_on(i, *coding.end_split(), raw_next=False)
        self.sink.end()

    @property
    def errors(self) -> list[str]:
        """Why decoding stopped or what it noticed, per coding: for FlowInfo.errors."""
        return [c.failed or c.note for c in self.codings if c.failed or c.note]
