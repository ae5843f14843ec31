"""HTTP body handling shared by HTTP/1, HTTP/2 and gRPC: framing, content codings, sinks.

A body travels: transfer framing (``ChunkedDecoder`` for HTTP/1 chunked) -> ``BodyPipe``
(content codings undone by the one codec layer, ``sandbox.decode.codec``: gzip incl.
multi-member, deflate, br, zstd; and S3 ``aws-chunked``) -> a sink (multipart parts, gRPC
messages, or plain pieces; ``sinks``) -> ``emit``.  It lives apart from the HTTP/1 parser so
that each HTTP flavour frames its own bytes and shares the rest.  Decoding is bounded by the
limits every decoder shares (``sandbox.decode.limits``): bombs are normal input here; a coding
that stops keeps what it decoded and passes the input it did not decode on raw, and a limit
that stopped it is reported (``BodyPipe.limits``).
"""

from __future__ import annotations

from sandbox.decode.codec import Codec, make_codec
from sandbox.decode.limits import LimitHit
from sandbox.decode.multipart import MultipartSplitter, boundary_of
from sandbox.protocols.grpc import GrpcMessages
from sandbox.protocols.sinks import MAX_BODY_PIECE, BodySink, Emit, PlainSink

# Chunk-size line incl. extensions; S3 aws-chunked signature lines are ~90 bytes.
MAX_CHUNK_LINE = 4096
# Chunked trailers (e.g. x-amz-checksum-crc32, grpc-status): a few short lines.
MAX_TRAILERS = 64 * 1024
# Nobody stacks more than two or three codings; a long list only costs time (and recursion).
MAX_CODINGS = 8


class CodingError(ValueError):
    """Bad framing or coding in a body (also raised by HTTP/1 for a bad head)."""


def _chunk_size(field: bytes) -> int | None:
    """A chunk's size line's size (hex digits, 16 at most), None when it is none."""
    size = field.strip()
    if not size or len(size) > 16 or size.strip(b"0123456789abcdefABCDEF"):
        return None
    return int(size, 16)


class ChunkedDecoder:
    """RFC 9112 chunked framing, incremental; also S3 ``aws-chunked`` (signed chunks).

    ``feed`` returns the decoded bytes and how much of the input belonged to the body, so
    the caller knows where the next message starts.  Raises CodingError on bad framing.
    """

    def __init__(self, keep_side: bool = True) -> None:
        self._state = "size"
        self._remaining = 0
        self._line = bytearray()
        self.trailers = bytearray()
        self.done = False
        self.keep_side = keep_side
        self.extensions: list[bytes] = []
        # Chunk extensions and trailers as they came (``keep_side``): a peer ignores extensions it does
        # not know, the instrument's own server reads them (the message's parser hands them on and
        # clears this; aws-chunked, a content coding, has 64 hex digits of signature a chunk).
        self.side = bytearray()

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
            if self._state == "extension":      # a long one, streamed beside the body to its line's end
                if self.keep_side:
                    self.side += data[i: n if j < 0 else j].rstrip(b"\r") + (b"\n" if j >= 0 else b"")
                i = n if j < 0 else j + 1
                if j >= 0:
                    self._state = "data" if self._remaining else "trailers"
                continue
            if j < 0:
                self._line += data[i:]
                i = n
                if len(self._line) > (MAX_TRAILERS if self._state == "trailers" else MAX_CHUNK_LINE):
                    if self._state == "size" and self._long_extension():
                        continue
                    if self.keep_side:      # what it held is passed on, not dropped
                        self.side += self._line
                    raise CodingError(f"chunked {self._state} line over limit")
                break
            self._line += data[i:j]
            i = j + 1
            line = bytes(self._line).rstrip(b"\r")
            self._line.clear()
            self._on_line(line)
        return out, i

    def _long_extension(self) -> bool:
        """A size line past MAX_CHUNK_LINE that is a size and an extension (a server reads what it
        likes there): the size taken, the extension streamed beside the body to the line's end."""
        size, sep, ext = bytes(self._line).partition(b";")
        remaining = _chunk_size(size)
        if not sep or remaining is None:
            return False
        self._remaining = remaining
        if self.keep_side:
            self.side += ext.strip()
        self._line.clear()
        self._state = "extension"
        return True

    def _on_line(self, line: bytes) -> None:
        if self._state == "data-end":
            if line.strip():
                raise CodingError("chunk data not followed by CRLF")
            self._state = "size"
        elif self._state == "size":
            size, _, ext = line.partition(b";")
            remaining = _chunk_size(size)
            if remaining is None:
                raise CodingError(f"bad chunk size line {line[:40]!r}")
            if ext and len(self.extensions) < 4:
                self.extensions.append(ext.strip())
            if ext.strip() and self.keep_side:
                self.side += ext.strip() + b"\n"
            self._remaining = remaining
            self._state = "data" if self._remaining else "trailers"
        else:  # trailers, ended by an empty line
            if not line:
                self.done = True
                return
            self.trailers += line + b"\n"
            if self.keep_side:
                self.side += line + b"\n"
            if len(self.trailers) > MAX_TRAILERS:
                raise CodingError("chunked trailers over limit")


class AwsChunked(Codec):
    """``Content-Encoding: aws-chunked`` (S3 SigV4 streaming, flexible checksums)."""

    name = "aws-chunked"
    errors = (CodingError,)

    def __init__(self) -> None:
        super().__init__()
        self.chunked = ChunkedDecoder(keep_side=False)    # a content coding: no one reads its signatures

    def _feed(self, data: bytes | memoryview) -> None:
        if not self.chunked.done:
            out, _ = self.chunked.feed(bytes(data))
            for piece in out:
                self._keep(piece)


def make_coding(name: str) -> Codec | None:
    """A decoder for one Content-Encoding token, None when we do not know it."""
    if name.strip().lower() == "aws-chunked":
        return AwsChunked()
    return make_codec(name)


def decoding_order(header: str) -> list[str]:
    """Content codings in the order to undo them (last applied first; aws-chunked outermost)."""
    names = [n.strip().lower() for n in header.split(",") if n.strip()]
    names = [n for n in names if n != "identity"]
    aws = [n for n in names if n == "aws-chunked"]
    return aws + [n for n in reversed(names) if n != "aws-chunked"]


# --------------------------------------------------------------------------- sinks


def make_sink(content_type: str, emit: Emit, piece: int | None = None,
              grpc_encoding: str = "") -> BodySink:
    """The body sink for a content type: multipart parts, gRPC messages, or the whole body."""
    boundary = boundary_of(content_type.encode("latin-1", "replace"))
    if boundary:
        return MultipartSplitter(boundary, emit)
    ct = content_type.strip().lower()
    if ct.startswith("application/grpc") and not ct.startswith("application/grpc-web-text"):
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
        self.codings: list[Codec] = []
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
        trailers = [c.chunked.trailers for c in self.codings if isinstance(c, AwsChunked) and c.chunked.trailers]
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
        gap = getattr(self.sink, "gap", None)
        if gap is not None:
            gap(size)

    def end(self) -> None:
        """Flush every coding in turn (a truncated stream still yields what it decoded); then what a
        coding read and does not output (a gzip member's long extra field) goes on beside the body."""
        for i, coding in enumerate(self.codings):
            self._hand_on(i, *coding.end_split(), raw_next=False)
        self.sink.end()
        done: tuple[str, ...] = ()
        for coding in self.codings:
            done += (f"content-encoding:{coding.name}",)
            for extra in getattr(coding, "extras", ()):
                self._emit(bytes(extra), (*done, "gzip extra field"), {}, 0)

    @property
    def errors(self) -> list[str]:
        """Why decoding stopped or what it noticed, per coding: for FlowInfo.errors."""
        return [c.failed or c.note for c in self.codings if c.failed or c.note]

    @property
    def limits(self) -> list[LimitHit]:
        """Limits that stopped a coding (or the sink's own decoding): chains are relative to the
        message label, ``bytes_left`` counts the input passed on undecoded."""
        out: list[LimitHit] = []
        done: tuple[str, ...] = ()
        for c in self.codings:
            if c.status == "limit":
                out.append(LimitHit(c.hit, f"content-encoding:{c.name}", done, c.rest_bytes))
            if c.failed:
                break
            done += (f"content-encoding:{c.name}",)
        for hit in getattr(self.sink, "limits", ()):
            out.append(LimitHit(hit.limit, hit.decoder, done + hit.chain, hit.bytes_left))
        return out


__all__ = ["MAX_BODY_PIECE", "AwsChunked", "BodyPipe", "ChunkedDecoder", "CodingError", "PlainSink",
           "decoding_order", "make_coding", "make_sink"]
