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

The sender may be the attacker (the instrument): its receiver's kernel drops segments a capture
keeps (a bad checksum, a sequence number outside the window, data on a SYN), so what was seen first
need not be what the receiver read.  A stream made with ``keep`` (a ``KeptTotal``) therefore keeps what it
delivered until the peer acknowledges it, compares every retransmission with it, and hands out
as ``Resent(offset, data)`` the bytes sent again that differ, or that it cannot compare (a
receiver may have read them instead); a FIN followed by more data did not end the stream.
Cost: O(n log k) in segments (k = buffered segments), no per-byte work beyond slicing (and
comparing retransmitted bytes once).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
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
# Capture seconds a finished (FIN both ways or RST) connection is still followed: trailing ACKs and
# retransmissions, and the bytes after a FIN or RST its receiver dropped (a forged one).
CLOSED_LINGER = 10.0
# Delivered bytes kept per stream until the peer acknowledges them (``keep``): an honest
# retransmission repeats bytes still in flight, at most a receive window (the bound above) behind.
MAX_KEPT_BYTES = MAX_BUFFERED_BYTES
# ... and kept by all the streams that share one ``KeptTotal`` (a Dissector's): past it, its least
# recently active flows let go of theirs; a retransmission there is then ``Resent``.
MAX_KEPT_TOTAL = 256 << 20
# What a stream holds before it drops the acknowledged part (an ACK only moves a mark: cheap).
KEPT_SLACK = 64 << 10


class Chunk(NamedTuple):
    offset: int
    data: bytes


class Hole(NamedTuple):
    offset: int
    size: int


class Resent(NamedTuple):
    """Bytes sent again for a place already delivered, not shown equal to what was delivered there:
    they differ, or the delivered copy is gone (never kept, or before the stream's start)."""
    offset: int
    data: bytes


Event = Chunk | Hole | Resent


class KeptTotal:
    """Bytes kept by a set of streams together (see ``MAX_KEPT_TOTAL``)."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


class _Kept:
    """Delivered bytes not yet acknowledged, in stream order: parallel lists with a moving head, so
    appending, dropping the acknowledged front and finding an offset (bisect) stay cheap."""

    __slots__ = ("offs", "datas", "head", "size", "total")

    def __init__(self, total: KeptTotal) -> None:
        self.offs: list[int] = []
        self.datas: list[bytes] = []
        self.head = 0
        self.size = 0
        self.total = total

    def add(self, off: int, data: bytes) -> None:
        self.offs.append(off)
        self.datas.append(data)
        self.size += len(data)
        self.total.used += len(data)
        if self.size > MAX_KEPT_BYTES:
            while self.size > MAX_KEPT_BYTES:
                self._pop()
            self._compact()

    def drop_before(self, off: int) -> None:
        """The receiver acknowledged everything before ``off``: its copy is the one it keeps."""
        offs, datas = self.offs, self.datas
        while self.head < len(offs) and offs[self.head] + len(datas[self.head]) <= off:
            self._pop()
        self._compact()

    def same(self, off: int, data: bytes) -> bool:
        """Whether ``data`` at ``off`` is exactly what was kept there (every byte of it kept)."""
        offs, datas = self.offs, self.datas
        i = bisect_right(offs, off, self.head) - 1
        if i < self.head:
            return False
        view = memoryview(data)
        pos, end = off, off + len(data)
        while pos < end:
            if i >= len(offs):
                return False
            start, kept = offs[i], datas[i]
            if not start <= pos < start + len(kept):
                return False
            n = min(end, start + len(kept)) - pos
            if memoryview(kept)[pos - start:pos - start + n] != view[pos - off:pos - off + n]:
                return False
            pos += n
            i += 1
        return True

    def clear(self) -> None:
        self.total.used -= self.size
        self.offs, self.datas, self.head, self.size = [], [], 0, 0

    def _pop(self) -> None:
        n = len(self.datas[self.head])
        self.size -= n
        self.total.used -= n
        self.datas[self.head] = b""
        self.head += 1

    def _compact(self) -> None:
        if self.head > 1024 and self.head * 2 > len(self.offs):
            del self.offs[:self.head], self.datas[:self.head]
            self.head = 0


class Stream:
    """One direction of a TCP connection: segments in, in-order ``Chunk``/``Hole`` events out (and
    ``Resent`` ones, when it keeps)."""

    __slots__ = ("base", "next", "fin", "rst", "_heap", "_buffered", "_count",
                 "retransmitted", "holes", "hole_bytes", "delivered", "kept", "acked")

    def __init__(self, keep: KeptTotal | None = None) -> None:
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
        self.kept = _Kept(keep) if keep is not None else None   # delivered, not yet acknowledged (module doc)
        self.acked = 0                 # offset the peer acknowledged up to

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
        if self.fin is not None and end > self.fin and data:
            self.fin = None     # bytes past a FIN: the receiver did not take that FIN (a forged one)
        if fin and self.fin is None:
            self.fin = end
        if not data:
            return out
        nxt = self.next
        if end <= nxt:
            self.retransmitted += len(data)
            self._recheck(off, data, out)
        elif off <= nxt:
            if off < nxt:
                self.retransmitted += nxt - off
                self._recheck(off, data[:nxt - off], out)
                data = data[nxt - off:]
            out.append(Chunk(nxt, data))
            self.next = end
            self.delivered += len(data)
            if self.kept is not None:
                self.keep(nxt, data)
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

    def acknowledge(self, ack: int) -> None:
        """The peer acknowledged ``ack`` (a stream that keeps): what was kept before it can go (its
        receiver has a copy), which ``keep`` drops when what it holds grows past KEPT_SLACK."""
        nxt = self.next
        delta = (ack - self.base - nxt) % SEQ_MOD
        acked = nxt if delta < HALF else nxt + delta - SEQ_MOD     # never past what was delivered
        if acked > self.acked:
            self.acked = acked

    def keep(self, off: int, data: bytes) -> None:
        """``data`` was delivered at ``off``: kept until acknowledged."""
        self.kept.add(off, data)
        if self.kept.size > KEPT_SLACK:
            self.drop_acknowledged()

    def drop_acknowledged(self) -> None:
        """Let go of what the peer acknowledged (a stream that keeps): its receiver holds that copy."""
        self.kept.drop_before(self.acked)

    def ack(self, ack: int) -> list[Event]:
        """The peer acknowledged ``ack``: bytes before it that we never saw were lost by the capture."""
        if self.base is None:
            return []
        if self.kept is not None:
            self.acknowledge(ack)
        if not self._heap:
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

    def _recheck(self, off: int, data: bytes, out: list[Event]) -> None:
        """Bytes sent again for delivered offsets: ``Resent`` unless the receiver had acknowledged
        them already or they equal what was delivered there."""
        if self.kept is None:
            return
        if 0 <= off < self.acked:
            cut = min(len(data), self.acked - off)
            off, data = off + cut, data[cut:]
            if not data:
                return
        if not self.kept.same(off, data):
            out.append(Resent(off, data))

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
                self._recheck(off, data, out)
                continue
            if off < self.next:
                self.retransmitted += self.next - off
                self._recheck(off, data[:self.next - off], out)
                data = data[self.next - off:]
            out.append(Chunk(self.next, data))
            self.delivered += len(data)
            if self.kept is not None:
                self.keep(self.next, data)
            self.next = end


class Connection:
    """Both directions of one TCP connection, keyed ``"out"``/``"in"`` by the caller."""

    __slots__ = ("streams",)

    def __init__(self, keep_out: KeptTotal | None = None) -> None:
        """``keep_out``: check the out stream's retransmissions against what it delivered (``Resent``),
        its kept bytes counted there."""
        self.streams = {"out": Stream(keep_out), "in": Stream()}

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
            else:
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
        if not data:                           # a pure ACK: only the peer's origin, holes or kept bytes change
            if flags & ACK:
                if other.base is None:
                    other.base = ack % SEQ_MOD
                elif other._heap:
                    return False
                elif other.kept is not None:
                    other.acknowledge(ack)
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
            elif other.kept is not None:
                other.acknowledge(ack)
        n = len(data)
        mine.next = nxt + n
        mine.delivered += n
        if mine.kept is not None:
            mine.keep(nxt, data)
        return True

    def flush(self) -> list[tuple[str, Event]]:
        return [(d, e) for d, s in self.streams.items() for e in s.flush()]

    @property
    def finished(self) -> bool:
        return all(s.finished for s in self.streams.values())

    @property
    def buffered(self) -> int:
        return sum(s.buffered for s in self.streams.values())
