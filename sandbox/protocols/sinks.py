"""Where a decoded HTTP body goes: a sink that cuts it into Payloads (the whole body in pieces,
multipart parts, gRPC messages).  Kept apart so the body framing (``httpbody``) and the sinks it
picks (``grpc``, ``sandbox.decode.multipart``) import this, not each other."""

from __future__ import annotations

from typing import Protocol

from sandbox.decode.limits import LimitHit
from sandbox.decode.multipart import Emit

# Bodies are emitted in pieces of at most this size: bounds memory per flow direction
# while keeping a whole typical upload (a FASTQ chunk, a JSON batch) in one Payload.
MAX_BODY_PIECE = 64 * 1024 * 1024


class BodySink(Protocol):
    """Takes a body's decoded bytes as they come and emits Payload pieces through ``Emit``."""

    def feed(self, data: bytes) -> None: ...

    def end(self) -> None: ...


class DecodingSink(BodySink, Protocol):
    """A sink that decodes inside what it is fed (gRPC messages) and reports its limit hits."""

    limits: list[LimitHit]


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


__all__ = ["MAX_BODY_PIECE", "BodySink", "DecodingSink", "Emit", "PlainSink"]
