"""A serial line: text and dumps between sessions (scanned raw), and the sessions themselves: file
transfers and network links.

A line is one long conversation on which a console, a hex dump, a ZMODEM upload and a PPP link may
follow each other, so one parser watches all of it.  Outside a session each direction's bytes go to
the raw parser, except a short tail held back while a session's start may still be completing; every
registered transfer and link decoder (``sandbox.protocols.serial.registry``) looks for its start.
During a session the decoder gets both directions: verified file bytes become Payloads labelled
``<protocol>:<file name>`` (``("serial", "zmodem:reads.fastq.gz")``, then the decoders peel gzip); a
link's IP packets go to the flow table as captured traffic (``sandbox.protocols.carried``: ``serial >
ppp > tcp > http/1.1 POST``), and what it could not read is said; everything the decoder does not
account for goes to the raw parser.  When the session ends (or a transfer stalls, or the line goes
quiet between files) the line is raw again, and the bytes after a session's end are scanned anew.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sandbox.captures.numbers import by_version
from sandbox.model import Observation, Payload
from sandbox.protocols.carried import CarriedPackets
from sandbox.protocols.context import FlowContext
from sandbox.protocols.raw import RawParser
from sandbox.protocols.serial.transfer import (
    FileData,
    FileEnd,
    FileStart,
    Packet,
    Released,
    Unclaimed,
    Unread,
)

# File bytes per Payload: a whole typical serial transfer (bench files of a few hundred KB at
# 115200 baud) is one Payload, so decoders peel it whole; bounds memory per line.
FILE_PIECE = 1 << 20
# Bytes held back per direction while a session's start may be completing: an XMODEM-1K block
# (1029 bytes) is the longest start signature (a PPP link opens with short LCP frames; one picked up
# midway is found at its first frame under this size, an ACK in the other direction at the latest).
MAX_HOLD = 2048
# Bytes of a read looked through at a time: bounds what a start is searched in (a read of a megabyte
# in which sessions begin and end thousands of times stays linear).
SCAN_PIECE = 4096
# Files listed in the line's flow meta (the dashboard shows them); later ones are still decoded.
MAX_FILES_LISTED = 20
DIRECTIONS = ("out", "in")

Items = list[Payload | Observation]


class _File:
    __slots__ = ("direction", "protocol", "name", "label", "size", "next", "start", "buf", "t_first",
                 "t_last", "entry")

    def __init__(self, ev: FileStart, t: float) -> None:
        self.direction, self.protocol, self.name, self.size = ev.direction, ev.protocol, ev.name, ev.size
        self.label = f"{ev.protocol}:{ev.name}" if ev.name else ev.protocol
        self.next = 0               # file offset after the last byte taken
        self.start = 0              # file offset of buf[0]
        self.buf = bytearray()
        self.t_first = self.t_last = t
        self.entry: dict[str, Any] | None = None


class SerialLineParser:
    """The parser of every serial flow; see the module docstring."""

    name: ClassVar[str] = "serial"

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        """Always: transfers come and go on a line, so the line's own parser looks for them."""
        return True

    def __init__(self, ctx: FlowContext) -> None:
        from sandbox.protocols.serial.registry import LINKS, TRANSFERS  # read at construction: they may grow

        self.ctx = ctx
        self.raw = RawParser(ctx)
        self.transfers = [*TRANSFERS, *LINKS]
        self.pos = dict.fromkeys(DIRECTIONS, 0)          # line offset of the next byte fed
        self.raw_pos = dict.fromkeys(DIRECTIONS, 0)      # line offset the raw parser has reached
        self.raw_from = dict.fromkeys(DIRECTIONS, 0)     # below it, bytes given back already went raw
        self.hold = {d: bytearray() for d in DIRECTIONS}
        self.transfer: Any = None
        self.base = dict.fromkeys(DIRECTIONS, 0)         # line offset where the transfer took over
        self.files: dict[str, _File] = {}
        self.links: dict[str, CarriedPackets] = {}      # the IP packets each network link carried
        self.last_t = 0.0

    # -- the Dissector's calls -----------------------------------------------------------------
    def feed(self, direction: str, data: bytes, t: float) -> Items:
        out: Items = []
        if self.transfer is not None and t - self.last_t > self.transfer.stall_s:
            self._end_transfer(t, out)
        self.last_t = t
        at = self.pos[direction]
        self.pos[direction] += len(data)
        self._take([(direction, data, at)], t, out)
        return out

    def _take(self, runs: list[tuple[str, bytes, int]], t: float, out: Items) -> None:
        """Line bytes (direction, bytes, line offset), in order, in pieces: the bytes a session gives back
        when it ends go back in front, and each look for a start costs one piece, however often
        sessions begin and end in one read."""
        pending = [piece for run in reversed(runs) for piece in _pieces(*run)]     # last first
        while pending:
            direction, data, at = pending.pop()
            if self.transfer is not None:
                released = self._transfer_feed(direction, data, t, out)
            else:
                released = self._scan(direction, data, at, t, out)
            for back in reversed(released):
                pending += _pieces(*back)

    def idle(self, t: float) -> Items:
        """The line went quiet: held bytes go raw, a transfer between files ends, file bytes so far
        go out (a live finding does not wait for the end of a stalled transfer)."""
        out: Items = []
        if self.transfer is not None and not self.transfer.busy:
            self._end_transfer(t, out)
        elif self.transfer is not None:
            released = self._events(self.transfer.idle(), t, out)
            if self.transfer.done:           # a link that said it was over: the line is the line's again
                self._end_transfer(t, out)
                self._take(released, t, out)
        for d in DIRECTIONS:
            self._release_hold(d, t, out)
        for f in list(self.files.values()):
            self._emit(f, len(f.buf), out)
        out.extend(self.raw.idle(t))
        return out

    def close(self, t: float) -> Items:
        out: Items = []
        if self.transfer is not None:
            self._end_transfer(t, out)
        for d in DIRECTIONS:
            self._release_hold(d, t, out)
        for link in self.links.values():
            link.close()
        out.extend(self.raw.close(t))
        return out

    # -- outside transfers ---------------------------------------------------------------------
    def _scan(self, direction: str, data: bytes, at: int, t: float, out: Items) -> list[tuple[str, bytes, int]]:
        """Bytes outside a session: raw, but for a held tail, until a session starts in them; what a
        session that started and ended here gave back, to scan next."""
        hold = self.hold[direction]
        base = at - len(hold)
        fresh = len(hold)
        hold += data
        buf = bytes(hold)
        best, chosen, keep = -1, None, len(buf)
        for cls in self.transfers:
            start, held = cls.find(buf, fresh)
            if start >= 0 and (best < 0 or start < best):
                best, chosen = start, cls
            keep = min(keep, held)
        if chosen is not None:
            hold.clear()
            self._raw(direction, buf[:best], base, t, out)
            self._begin(chosen, direction, base + best, t, out)
            return self._transfer_feed(direction, buf[best:], t, out)
        keep = max(keep, len(buf) - MAX_HOLD)
        del hold[:keep]
        self._raw(direction, buf[:keep], base, t, out)
        return []

    def _release_hold(self, direction: str, t: float, out: Items) -> None:
        hold = self.hold[direction]
        if hold:
            self._raw(direction, bytes(hold), self.pos[direction] - len(hold), t, out)
            hold.clear()

    def _raw(self, direction: str, data: bytes, at: int, t: float, out: Items) -> None:
        if at < self.raw_from[direction]:       # given back by a session that already sent them raw
            data, at = data[self.raw_from[direction] - at:], max(at, self.raw_from[direction])
        if not data:
            return
        skipped = at - self.raw_pos[direction]
        if skipped > 0:             # bytes a transfer accounted for: a hole in the raw stream
            out.extend(self.raw.gap(direction, skipped))
        out.extend(self.raw.feed(direction, bytes(data), t))
        self.raw_pos[direction] = max(at, self.raw_pos[direction]) + len(data)

    # -- transfers -----------------------------------------------------------------------------
    def _begin(self, cls: type, direction: str, at: int, t: float, out: Items) -> None:
        other = "in" if direction == "out" else "out"
        self._release_hold(other, t, out)
        self.transfer = cls(direction)
        self.base = {direction: at, other: self.pos[other]}

    def _transfer_feed(self, direction: str, data: bytes, t: float, out: Items) -> list[tuple[str, bytes, int]]:
        """Bytes for the session; what it gave back when it ended (direction, bytes, line offset)."""
        released = self._events(self.transfer.feed(direction, data), t, out)
        if self.transfer.done:
            self._end_transfer(t, out)
        return released

    def _end_transfer(self, t: float, out: Items) -> None:
        transfer = self.transfer
        released = self._events(transfer.close(), t, out) if not transfer.done else []
        self.transfer = None
        for d in list(self.files):
            self._file_end(d, False, "transfer ended", out)
        self._take(released, t, out)

    def _events(self, events: list, t: float, out: Items) -> list[tuple[str, bytes, int]]:
        released = []
        for ev in events:
            if isinstance(ev, Unclaimed):
                self._raw(ev.direction, ev.data, self.base[ev.direction] + ev.position, t, out)
            elif isinstance(ev, Packet):
                self._packet(ev, t, out)
            elif isinstance(ev, Unread):
                if ev.direction == "out":
                    out.append(self.ctx.blind(ev.what, ev.size, t))
            elif isinstance(ev, Released):
                at = self.base[ev.direction] + ev.position
                released.append((ev.direction, ev.data, at))
                self.raw_from[ev.direction] = max(self.raw_from[ev.direction], at + ev.scanned)
            elif isinstance(ev, FileData):
                self._file_data(ev, t, out)
            elif isinstance(ev, FileStart):
                self._file_start(ev, t, out)
            elif isinstance(ev, FileEnd):
                self._file_end(ev.direction, ev.complete, ev.note, out)
        return released

    def _packet(self, ev: Packet, t: float, out: Items) -> None:
        name = self.transfer.name
        link = self.links.get(name)
        if link is None:
            link = self.links[name] = CarriedPackets(self.ctx, name)
            if self.ctx.info.app in ("", "raw"):
                self.ctx.info.app = name
        link.packet(ev.data, _ip_version, ev.direction, t, 0, out, cut_short=f"IP packets over {name} cut short")

    # -- files ---------------------------------------------------------------------------------
    def _file_start(self, ev: FileStart, t: float, out: Items) -> None:
        self._file_end(ev.direction, False, "a new file began", out)
        f = self.files[ev.direction] = _File(ev, t)
        info = self.ctx.info
        if info.app in ("", "raw"):
            info.app = ev.protocol
        listing = info.meta.setdefault("files", [])
        if len(listing) < MAX_FILES_LISTED:
            f.entry = {"name": ev.name, "protocol": ev.protocol, "direction": ev.direction, "size": ev.size,
                       "bytes": 0, "complete": None}
            listing.append(f.entry)

    def _file_data(self, ev: FileData, t: float, out: Items) -> None:
        f = self.files.get(ev.direction)
        if f is None:
            f = self.files[ev.direction] = _File(FileStart(ev.direction, self.transfer.name), t)
        data, offset = ev.data, ev.offset
        if offset < f.next:         # sent again after an error: the first copy stands
            data = data[f.next - offset:]
            offset = f.next
        if not data:
            return
        if offset > f.next:         # a part never seen: the pieces around it stay apart
            self._emit(f, len(f.buf), out)
        if not f.buf:
            f.start, f.t_first = offset, t
        f.buf += data
        f.next = offset + len(data)
        f.t_last = t
        if f.entry is not None:
            f.entry["bytes"] += len(data)
        while len(f.buf) >= FILE_PIECE:
            self._emit(f, FILE_PIECE, out)

    def _emit(self, f: _File, size: int, out: Items) -> None:
        if not size:
            return
        piece = bytes(f.buf[:size])
        del f.buf[:size]
        out.append(self.ctx.payload(piece, f.label, f.direction, f.t_first, f.t_last,
                                    meta={"filename": f.name, "protocol": f.protocol, "file_offset": f.start}))
        f.start += len(piece)
        f.t_first = f.t_last

    def _file_end(self, direction: str, complete: bool, note: str, out: Items) -> None:
        f = self.files.pop(direction, None)
        if f is None:
            return
        self._emit(f, len(f.buf), out)
        if f.entry is not None:
            f.entry["complete"] = complete
            if note:
                f.entry["note"] = note


def _pieces(direction: str, data: bytes, at: int) -> list[tuple[str, bytes, int]]:
    """``data`` (at line offset ``at``) cut in SCAN_PIECE pieces, last first."""
    return [(direction, data[i:i + SCAN_PIECE], at + i) for i in range(0, len(data), SCAN_PIECE)][::-1]


def _ip_version(packet: bytes) -> tuple[int, int]:
    """A link that carries IP without saying which: by the version nibble."""
    return by_version(packet, 0), 0
