"""The fallback parser: a flow nobody recognised is still scanned, as bounded stream chunks.

Each direction's bytes are cut into chunks of ``RAW_CHUNK`` bytes; every chunk after the first
repeats the last ``RAW_OVERLAP`` bytes of the one before, so a fragment that straddles a cut is
still whole in one chunk.  ``stream_offset`` is where the chunk's first byte sat in the stream.
"""

from __future__ import annotations

from typing import ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import RAW_OVERLAP, MessageStreams, StreamFollower
from sandbox.protocols.framing import RecordFraming

# Bytes per emitted chunk: big enough that per-payload overhead (decoders, fingerprints) stays
# small, small enough that a flow holds little memory and a live dashboard sees data soon.
RAW_CHUNK = 64 * 1024
# Capture-time seconds a partial chunk of a busy stream may wait before it is emitted anyway (live
# latency); a stream that goes quiet is flushed sooner by the flow table's idle flush (``idle``).
RAW_FLUSH_SECONDS = 1.0
# Bytes a protocol parser could not follow (after a protocol error, a gap, a tunnel) are passed on
# in pieces of this size by HTTP/1, HTTP/2 and WebSocket: bounded memory per flow direction.
RAW_PIECE = 1024 * 1024


# A flow's own stream (chain ``tcp`` or ``udp``) that ends within RAW_OVERLAP bytes (its last chunk's
# tail then holds it whole) is read joined with the other short flows to its site too
# (``follow.MessageStreams(across=True)``): a beacon that opens a connection (or sends a datagram from a
# port) a piece, 60 characters of hex a connection, was read a piece at a time.
SHORT_FLOWS = "short flows"


class _Side:
    __slots__ = ("buf", "offset", "tail", "t_first", "t_last", "follower", "records")

    def __init__(self, offset: int, ctx: FlowContext, direction: str, framed: bool = True) -> None:
        self.follower = StreamFollower(ctx.shared)     # a compressed stream that runs on past a chunk
        # length-prefixed records from the flow's start: their bodies followed as one stream
        self.records = RecordFraming(ctx) if framed and direction == "out" and offset == 0 else None
        self.buf = bytearray()
        self.offset = offset      # stream offset of buf[0]
        self.tail = b""           # last RAW_OVERLAP bytes already emitted, contiguous with buf
        self.t_first = 0.0
        self.t_last = 0.0


class RawParser:
    """Bytes in, overlapping bounded chunks out (TCP streams and concatenated UDP datagrams)."""

    name: ClassVar[str] = "raw"

    @staticmethod
    def detect(*_args: object) -> bool:
        return False   # never chosen by content: it is what the Dissector uses when nothing else is

    def __init__(self, ctx: FlowContext, offsets: dict[str, int] | None = None, framed: bool = True) -> None:
        """``framed``: look for length-prefixed records from the start (not in a stream of header fields'
        values, whose lanes go quiet and are looked at again at each pause)."""
        self.ctx = ctx
        offsets = offsets or {}
        self.sides = {d: _Side(offsets.get(d, 0), ctx, d, framed) for d in ("out", "in")}
        if not ctx.info.app:
            ctx.info.app = "raw"

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        side = self.sides[direction]
        if not data:
            return []
        out: list[Payload | Observation] = []
        if side.buf and t - side.t_first > RAW_FLUSH_SECONDS:
            self._emit(direction, side, out)
        if not side.buf:
            side.t_first = t
        side.t_last = t
        side.buf += data
        if side.records is not None and not self.ctx.info.encrypted:
            out += side.records.feed(data, t)
        while len(side.buf) >= RAW_CHUNK:
            self._emit(direction, side, out, RAW_CHUNK)
        return out

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        side = self.sides[direction]
        out: list[Payload | Observation] = []
        self._emit(direction, side, out)
        side.offset += size
        side.tail = b""           # bytes after a hole are not contiguous with the old tail
        side.follower.gap()
        if side.records is not None:
            out += side.records.end(side.t_last)
            side.records = None
        return out

    def close(self, t: float) -> list[Payload | Observation]:
        """The flow is over: what is buffered goes out and a stream followed is let go; a short flow's
        bytes join those of the other short flows to its site."""
        out = self.idle(t)
        side = self.sides["out"]
        if side.offset and len(side.tail) == side.offset and len(self.ctx.chain) == 1:   # all of it, from its start
            out += MessageStreams(self.ctx, across=True).follow(SHORT_FLOWS, side.tail, "out", (SHORT_FLOWS,),
                                                                side.t_first, t)
        for side in self.sides.values():
            side.follower.gap()
            if side.records is not None:
                out += side.records.end(t)
                side.records = None
        return out

    def idle(self, t: float) -> list[Payload | Observation]:
        """The stream went quiet: what is buffered goes out now (the next chunk overlaps it)."""
        out: list[Payload | Observation] = []
        for direction, side in self.sides.items():
            self._emit(direction, side, out)
            if side.records is not None:
                out += side.records.idle(t)
        return out

    def _emit(self, direction: str, side: _Side, out: list, size: int | None = None) -> None:
        if not side.buf:
            return
        size = len(side.buf) if size is None else size
        body = bytes(side.buf[:size])
        del side.buf[:size]
        data = side.tail + body
        out.append(self.ctx.payload(data, (), direction, side.t_first, side.t_last,
                                    stream_offset=side.offset - len(side.tail), repeated=len(side.tail)))
        if not self.ctx.info.encrypted:
            out += side.follower.follow(self.ctx, body, side.offset, direction, (), side.t_first, side.t_last)
        side.offset += len(body)
        side.tail = data[-RAW_OVERLAP:]
        side.t_first = side.t_last
