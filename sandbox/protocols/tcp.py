"""TCP stream reassembly, one ``Stream`` per connection direction.

Offsets are 64-bit positions in the direction's byte stream (0 = first byte after the SYN, or the
first byte seen when the handshake was not captured), unwrapped from 32-bit sequence numbers
relative to the next expected byte, so wraparound is invisible to callers.

Overlap policy: **first seen wins** for bytes already delivered (what Wireshark's "Follow TCP
Stream" shows; a retransmission never rewrites history).  Among out-of-order segments still
buffered, the one at the lower offset wins where they overlap (ties: first seen).
Holes are reported as ``Hole(offset, size)`` and never shift later bytes: a lost segment
surfaces as a hole when the peer acknowledges past it, when the out-of-order buffer exceeds its
cap, or when the stream is flushed (FIN, RST, idle, end of capture).
Cost: O(n log k) in segments (k = buffered segments), no per-byte work beyond slicing.
"""

from __future__ import annotations

import heapq
from typing import NamedTuple

from sandbox.model import ACK, FIN, RST, SYN

SEQ_MOD = 1 << 32
HALF = 1 << 31
# Out-of-order bytes buffered per direction before we declare a hole and move on: a little over the
# largest common receive window (Linux tcp_rmem max 6 MiB is rare on instruments; 4 MiB covers
# long fat bench links) while bounding memory per flow.
MAX_BUFFERED_BYTES = 4 << 20
# Out-of-order segments buffered per direction: bounds heap overhead when segments are tiny.
MAX_BUFFERED_SEGMENTS = 8192


class Chunk(NamedTuple):
    offset: int
    data: bytes


class Hole(NamedTuple):
    offset: int
    size: int


Event = Chunk | Hole


class Stream:
    """One direction of a TCP connection: segments in, in-order ``Chunk``/``Hole`` events out."""

    __slots__ = ("base", "next", "fin", "rst", "_heap", "_buffered", "_count",
                 "retransmitted", "holes", "hole_bytes", "delivered")

    def __init__(self) -> None:
        self.base: int | None = None   # sequence number of stream offset 0
        self.next = 0                  # next offset to deliver
        self.fin: int | None = None    # offset of the FIN, when seen
        self.rst = False
        self._heap: list[tuple[int, int, bytes]] = []
        self._buffered = 0
        self._count = 0
        self.retransmitted = 0         # bytes seen again after delivery
        self.holes = 0
        self.hole_bytes = 0
        self.delivered = 0

    @property
    def started(self) -> bool:
        return self.base is not None

    @property
    def finished(self) -> bool:
        """FIN seen and every byte before it delivered (or declared a hole), or reset."""
        return self.rst or (self.fin is not None and self.next >= self.fin)

    @property
    def buffered(self) -> int:
        return self._buffered

    def syn(self, seq: int) -> None:
        """A SYN fixes the stream origin (the SYN itself takes one sequence number)."""
        if self.base is None:
            self.base = (seq + 1) % SEQ_MOD

    def offset(self, seq: int) -> int:
        """Unwrap a 32-bit sequence number to the stream offset nearest the next expected byte."""
        delta = (seq - self.base - self.next) % SEQ_MOD
        if delta >= HALF:
            delta -= SEQ_MOD
        return self.next + delta

    def segment(self, seq: int, data: bytes, fin: bool = False) -> list[Event]:
        """Add one segment's payload; returns what became deliverable, in stream order."""
        if self.base is None:
            self.base = seq % SEQ_MOD   # mid-stream pickup: the first byte seen is offset 0
        off = self.offset(seq)
        end = off + len(data)
        out: list[Event] = []
        if fin and self.fin is None:
            self.fin = end
        if self.fin is not None and end > self.fin:   # nothing after the FIN belongs to the stream
            data = data[: max(0, self.fin - off)]
            end = off + len(data)
        if not data:
            return out
        nxt = self.next
        if end <= nxt:
            self.retransmitted += len(data)
        elif off <= nxt:
            if off < nxt:
                self.retransmitted += nxt - off
                data = data[nxt - off:]
            out.append(Chunk(nxt, data))
            self.next = end
            self.delivered += len(data)
            if self._heap:
                self._drain(out)
        else:
            heapq.heappush(self._heap, (off, self._count, data))
            self._count += 1
            self._buffered += len(data)
            while self._heap and (self._buffered > MAX_BUFFERED_BYTES
                                  or len(self._heap) > MAX_BUFFERED_SEGMENTS):
                self._skip_to_buffered(out)
        return out

    def ack(self, ack: int) -> list[Event]:
        """The peer acknowledged ``ack``: bytes before it that we never saw were lost by the capture."""
        if self.base is None or not self._heap:
            return []
        acked = self.offset(ack)
        out: list[Event] = []
        while self._heap and self._heap[0][0] <= acked and self._heap[0][0] > self.next:
            self._skip_to_buffered(out)
        return out

    def flush(self) -> list[Event]:
        """Deliver everything buffered, declaring holes for what never arrived."""
        out: list[Event] = []
        while self._heap:
            self._skip_to_buffered(out)
        if self.fin is not None and self.fin > self.next and self.base is not None:
            self._hole(out, self.fin - self.next)
        return out

    def reset(self) -> list[Event]:
        self.rst = True
        return self.flush()

    def _hole(self, out: list[Event], size: int) -> None:
        out.append(Hole(self.next, size))
        self.next += size
        self.holes += 1
        self.hole_bytes += size

    def _skip_to_buffered(self, out: list[Event]) -> None:
        first = self._heap[0][0]
        if first > self.next:
            self._hole(out, first - self.next)
        self._drain(out)

    def _drain(self, out: list[Event]) -> None:
        heap = self._heap
        while heap and heap[0][0] <= self.next:
            off, _, data = heapq.heappop(heap)
            self._buffered -= len(data)
            end = off + len(data)
            if end <= self.next:
                self.retransmitted += len(data)
                continue
            if off < self.next:
                self.retransmitted += self.next - off
                data = data[self.next - off:]
            out.append(Chunk(self.next, data))
            self.delivered += len(data)
            self.next = end


class Connection:
    """Both directions of one TCP connection, keyed ``"out"``/``"in"`` by the caller."""

    __slots__ = ("streams",)

    def __init__(self) -> None:
        self.streams = {"out": Stream(), "in": Stream()}

    def segment(self, direction: str, seq: int, ack: int, flags: int, data: bytes) -> list[tuple[str, Event]]:
        """Feed one segment; returns ``(direction, event)`` pairs that became deliverable."""
        mine = self.streams[direction]
        other_dir = "in" if direction == "out" else "out"
        other = self.streams[other_dir]
        events: list[tuple[str, Event]] = []
        if flags & SYN:
            mine.syn(seq)
            seq = (seq + 1) % SEQ_MOD   # data on a SYN (TCP Fast Open) starts after it
        if flags & ACK:
            if other.base is None:
                if not flags & RST:
                    other.base = ack % SEQ_MOD     # mid-stream pickup: the ack names the peer's next byte
            elif other._heap:
                events.extend([(other_dir, e) for e in other.ack(ack)])
        if data or flags & FIN:
            mine_events = mine.segment(seq, data, bool(flags & FIN))
            if mine_events:
                events.extend([(direction, e) for e in mine_events])
        if flags & RST:
            events.extend((direction, e) for e in mine.reset())
            events.extend((other_dir, e) for e in other.reset())
        return events

    def in_order(self, direction: str, seq: int, ack: int, flags: int, data: bytes) -> bool:
        """Fast path for the usual segment: no SYN/FIN/RST, nothing buffered either way, and data
        (if any) exactly at the next expected byte.  Returns True when it took the segment: the
        caller delivers ``data`` (when not empty) as one ``Chunk``, exactly what ``segment`` would
        have returned; False: call ``segment``.
        """
        if flags & (SYN | FIN | RST):
            return False
        streams = self.streams
        other = streams["in" if direction == "out" else "out"]
        if not data:                           # a pure ACK: only the peer's origin or holes change
            if flags & ACK:
                if other.base is None:
                    other.base = ack % SEQ_MOD
                elif other._heap:
                    return False
            return True
        mine = streams[direction]
        base = mine.base
        if base is None or mine.fin is not None or mine._heap:
            return False
        nxt = mine.next
        if (seq - base - nxt) % SEQ_MOD:
            return False
        if flags & ACK:
            if other.base is None:
                other.base = ack % SEQ_MOD     # mid-stream pickup: the ack names the peer's next byte
            elif other._heap:
                return False
        n = len(data)
        mine.next = nxt + n
        mine.delivered += n
        return True

    def flush(self) -> list[tuple[str, Event]]:
        return [(d, e) for d, s in self.streams.items() for e in s.flush()]

    @property
    def finished(self) -> bool:
        return all(s.finished for s in self.streams.values())

    @property
    def buffered(self) -> int:
        return sum(s.buffered for s in self.streams.values())
