"""A stream handed on in bounded pieces that overlap where one continues the one before.

Parsers that take a file or a message stream apart from their protocol's framing (SMB's writes, MQTT's
and AMQP's publishes) hand on two kinds of bytes: a file's (or a topic's) pieces, joined while they
come in order, and everything else the protocol carries (headers, names, properties), scanned as a
stream of its own.  Both are cut into pieces the same way.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sandbox.protocols.follow import RAW_OVERLAP
from sandbox.protocols.raw import RAW_FLUSH_SECONDS


class Piece(NamedTuple):
    key: Any            # (verb, file name) of a file's bytes; None for the messages' other bytes
    at: int             # file offset of data[0]
    data: bytes
    repeated: int       # how many of the first bytes the piece before ended with
    t_first: float
    t_last: float


class Pieces:
    """One stream handed on in pieces of at most ``size`` bytes: a file's bytes written in order (``key``
    its name, ``at`` the offset), or a protocol's bytes outside its files and messages.  A piece that continues the one before
    starts with that one's last RAW_OVERLAP bytes, so what straddles the cut is whole in one."""

    __slots__ = ("buf", "key", "at", "next", "tail", "t_first", "t_last", "size")

    def __init__(self, size: int) -> None:
        self.buf = bytearray()
        self.key: Any = None
        self.at = 0            # file offset of buf[0]
        self.next = 0          # file offset after buf
        self.tail = b""
        self.t_first = self.t_last = 0.0
        self.size = size

    def add(self, key: Any, at: int, data: bytes | memoryview, t: float) -> list[Piece]:
        out: list[Piece] = []
        continues = key == self.key and at == self.next
        if self.buf and (not continues or t - self.t_first > RAW_FLUSH_SECONDS):
            out += self.flush()
        if not continues:
            self.tail = b""
        if not self.buf:
            self.key, self.at, self.t_first = key, at, t
        self.t_last = t
        view = memoryview(data)
        while view:
            take = min(len(view), self.size - len(self.buf))
            self.buf += view[:take]
            view = view[take:]
            self.next = self.at + len(self.buf)
            if len(self.buf) >= self.size:
                out += self.flush()
                self.t_first = t
        return out

    def flush(self) -> list[Piece]:
        if not self.buf:
            return []
        data = self.tail + bytes(self.buf)
        piece = Piece(self.key, self.at - len(self.tail), data, len(self.tail), self.t_first, self.t_last)
        self.tail = data[-RAW_OVERLAP:]
        self.buf.clear()
        self.at = self.next
        self.t_first = self.t_last
        return [piece]
