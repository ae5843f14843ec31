"""ZMODEM on a serial line (Chuck Forsberg's protocol, as lrzsz speaks it).

Frames begin with a header: hex ``** ZDLE B`` + 14 hex digits (type, four flag/position bytes,
CRC-16) + CR LF [XON], or binary ``* ZDLE A`` (CRC-16) / ``* ZDLE C`` (CRC-32) with the same five
bytes and the CRC, ZDLE-escaped.  ZFILE, ZDATA, ZSINIT and ZCOMMAND headers are followed by data
subpackets: ZDLE-escaped bytes ended by ZDLE + ZCRCE/ZCRCG/ZCRCQ/ZCRCW and a CRC (the header's
kind) over the data and that end byte; ZCRCG/ZCRCQ mean another subpacket follows.  ZFILE's
subpacket is ``name NUL size mtime mode ...``; ZDATA's position (little-endian) says where its bytes
sit in the file (the sender rewinds to the receiver's ZRPOS after an error); ZEOF ends a file and
ZFIN the session; five CANs cancel.  Escapes: ZDLE c is ``c ^ 0x40``, ZRUB0/ZRUB1 are 0x7F/0xFF;
unescaped XON/XOFF are flow control and dropped.  Both directions are parsed the same way, so a
file is decoded whichever side sends it.

A subpacket whose CRC fails, a command, or bytes between frames that are not framing are passed on
unclaimed (scanned raw): only verified file data is labelled as the file.
"""

from __future__ import annotations

import binascii
import re
import zlib
from typing import ClassVar

from sandbox.protocols.serial.transfer import (
    FILE_STALL_S,
    Event,
    FileData,
    FileEnd,
    FileStart,
    Unclaimed,
    leading_int,
    safe_name,
)

ZDLE = 0x18
(ZRQINIT, ZRINIT, ZSINIT, ZACK, ZFILE, ZSKIP, ZNAK, ZABORT, ZFIN, ZRPOS, ZDATA, ZEOF, ZFERR, ZCRC,
 ZCHALLENGE, ZCOMPL, ZCAN, ZFREECNT, ZCOMMAND, ZSTDERR) = range(20)
# Headers a session (or a transfer picked up midway) can begin with.
START_TYPES = frozenset((ZRQINIT, ZRINIT, ZSINIT, ZFILE, ZDATA))
# Headers followed by data subpackets.
WITH_DATA = frozenset((ZSINIT, ZFILE, ZDATA, ZCOMMAND, ZSTDERR))
ZCRCE, ZCRCG, ZCRCQ, ZCRCW = b"hijk"
FRAME_ENDS = frozenset(b"hijk")
ESCAPED_RUB = {ord("l"): 0x7F, ord("m"): 0xFF}
FLOW_CONTROL = b"\x11\x13\x91\x93"       # XON, XOFF (and with the parity bit): not data
CANCEL = b"\x18" * 5
_HEADER = re.compile(rb"\*\x18[ABC]")
# Bytes between frames that are framing, not content: header pads and tails, XON/XOFF, the
# sender's "OO" after ZFIN.
FRAMING = frozenset(b"*\r\n\x8a\x11\x13O")
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
# Largest data subpacket accepted: lrzsz sends up to 8 KiB (--try-8k); beyond this it is not ZMODEM
# and what was gathered goes on unclaimed.
MAX_SUBPACKET = 64 * 1024


def _unescape(buf: bytes | bytearray, at: int, count: int) -> tuple[str, bytes, int]:
    """``count`` ZDLE-escaped bytes from ``buf[at:]``: ("ok", bytes, end), ("more", ...) or ("bad", ...)."""
    out = bytearray()
    i, n = at, len(buf)
    while len(out) < count:
        if i >= n:
            return "more", b"", at
        c = buf[i]
        if c in FLOW_CONTROL:
            i += 1
            continue
        if c != ZDLE:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            return "more", b"", at
        e = buf[i + 1]
        if e in ESCAPED_RUB:
            out.append(ESCAPED_RUB[e])
        elif e & 0x60 == 0x40 and e not in FRAME_ENDS:
            out.append(e ^ 0x40)
        else:
            return "bad", b"", i + 2
        i += 2
    return "ok", bytes(out), i


def parse_header(buf: bytes | bytearray, at: int) -> tuple[str, int, bytes, int, bool]:
    """The header whose ``* ZDLE`` is at ``at``: (status, type, four flag bytes, end, crc32)."""
    kind = buf[at + 2]
    p = at + 3
    if kind == 0x42:  # 'B': hex
        if len(buf) < p + 14:
            return "more", 0, b"", at, False
        digits = bytes(buf[p:p + 14])
        if not HEX_DIGITS.issuperset(digits):
            return "bad", 0, b"", p, False
        raw = bytes.fromhex(digits.decode())
        ok = binascii.crc_hqx(raw[:5], 0) == int.from_bytes(raw[5:], "big")
        return ("ok" if ok else "bad"), raw[0], raw[1:5], p + 14, False
    crc32 = kind == 0x43
    status, raw, end = _unescape(buf, p, 9 if crc32 else 7)
    if status != "ok":
        return status, 0, b"", end, crc32
    if crc32:
        ok = zlib.crc32(raw[:5]) == int.from_bytes(raw[5:], "little")
    else:
        ok = binascii.crc_hqx(raw[:5], 0) == int.from_bytes(raw[5:], "big")
    return ("ok" if ok else "bad"), raw[0], raw[1:5], end, crc32


class _Side:
    """One direction of the session: its frames, its open file."""

    __slots__ = ("direction", "buf", "position", "sub", "crc32", "data", "sub_at", "tail", "finished",
                 "file", "name", "size", "pos", "eof")

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.buf = bytearray()
        self.position = 0          # stream position of buf[0]
        self.sub = 0               # header type whose data subpackets are being read (0: hunting)
        self.crc32 = False
        self.data = bytearray()    # the subpacket so far, unescaped
        self.sub_at = 0            # stream position where it began
        self.tail = 0              # a hex header's CR LF XON still to skip
        self.finished = False      # ZFIN seen from this side
        self.file = False          # a file is open on this side
        self.name = ""
        self.size: int | None = None
        self.pos = 0               # file position of the next data byte
        self.eof: int | None = None    # furthest ZEOF (the file stays open: a ZRPOS may rewind it)


class ZmodemTransfer:
    """One ZMODEM session, both directions; see the module docstring."""

    name: ClassVar[str] = "zmodem"
    framing: ClassVar[bytes] = bytes(sorted(FRAMING)) + b"\x08\x18"
    stall_s: ClassVar[float] = FILE_STALL_S

    @staticmethod
    def find(data: bytes, fresh: int = 0) -> tuple[int, int]:
        """A CRC-verified header that can begin a session (ZRQINIT, ZRINIT, ZSINIT, ZFILE, ZDATA)."""
        m = _HEADER.search(data)
        while m is not None:
            i = m.start()
            status, ftype, _, _, _ = parse_header(data, i)
            start = i - 1 if i and data[i - 1] == 0x2A else i
            if status == "more":
                return -1, start
            if status == "ok" and ftype in START_TYPES:
                return start, start
            m = _HEADER.search(data, i + 1)
        n = k = len(data)          # hold a tail that may begin a header: "*", "**", "*" ZDLE, "**" ZDLE
        if k and data[k - 1] == ZDLE:
            k -= 1
        j = k
        while j > 0 and k - j < 2 and data[j - 1] == 0x2A:
            j -= 1
        return -1, j if j < k else n

    def __init__(self, direction: str) -> None:
        self.sides = {"out": _Side("out"), "in": _Side("in")}
        self.done = False     # the session ended: later bytes are the line's

    @property
    def busy(self) -> bool:
        return any(s.file for s in self.sides.values())

    def feed(self, direction: str, data: bytes) -> list[Event]:
        side = self.sides[direction]
        out: list[Event] = []
        side.buf += data
        while side.buf and not self.done:
            if not (self._subpacket(side, out) if side.sub else self._hunt(side, out)):
                break
        if self.done and side.buf:
            self._unclaim(side, len(side.buf), out)
        return out

    def idle(self) -> list[Event]:
        return []     # what is held is a block still arriving: judged when it completes or the line ends

    def close(self) -> list[Event]:
        out: list[Event] = []
        for side in self.sides.values():
            if side.sub and side.data:
                out.append(Unclaimed(side.direction, side.sub_at, bytes(side.data)))
            if side.buf:
                self._unclaim(side, len(side.buf), out)
            self._end_file(side, out, "transfer cut short")
        self.done = True
        return out

    # -- between frames ------------------------------------------------------------------------
    def _take(self, side: _Side, size: int) -> bytes:
        piece = bytes(side.buf[:size])
        del side.buf[:size]
        side.position += size
        return piece

    def _unclaim(self, side: _Side, size: int, out: list[Event]) -> None:
        at = side.position
        piece = self._take(side, size)
        if piece and not FRAMING.issuperset(piece):
            text = piece.lstrip(b"\r\n\x8a\x11\x13")          # a hex header's tail, then the text
            out.append(Unclaimed(side.direction, at + len(piece) - len(text), text))

    def _hunt(self, side: _Side, out: list[Event]) -> bool:
        buf = side.buf
        m = _HEADER.search(buf)
        cancel = buf.find(CANCEL)
        if cancel >= 0 and (m is None or cancel < m.start()):
            self._unclaim(side, cancel, out)
            self._take(side, len(buf) - len(buf.lstrip(b"\x18\x08")))
            self._abort(out, "cancelled")
            return False
        if m is None:
            keep = 2 if buf.endswith(b"*\x18") else 1 if buf.endswith(b"*") else 0
            keep = max(keep, len(buf) - len(buf.rstrip(b"\x18")))   # a cancel may be arriving
            self._unclaim(side, len(buf) - keep, out)
            return False
        self._unclaim(side, m.start(), out)
        status, ftype, flags, end, crc32 = parse_header(buf, 0)
        if status == "more":
            return False
        if status == "bad" or ftype > ZSTDERR:
            self._unclaim(side, 3, out)
            return True
        hex_header = buf[2] == 0x42
        self._take(side, end)
        side.tail = 3 if hex_header else 0     # its CR LF XON, before any subpacket
        self._header(side, ftype, flags, crc32, out)
        return True

    def _header(self, side: _Side, ftype: int, flags: bytes, crc32: bool, out: list[Event]) -> None:
        pos = int.from_bytes(flags, "little")
        if ftype in WITH_DATA:
            side.sub, side.crc32, side.data, side.sub_at = ftype, crc32, bytearray(), side.position
            if ftype == ZDATA:
                if not side.file:           # picked up midway: a file with no name
                    self._open(side, out, "", None)
                side.pos = pos
        elif ftype == ZEOF:
            if side.file:
                side.eof = max(pos, side.eof or 0)
        elif ftype == ZSKIP:
            self._end_file(self.sides["in" if side.direction == "out" else "out"], out, "skipped by the receiver")
        elif ftype == ZFIN:
            side.finished = True
            self._end_file(side, out, "session ended")
            if all(s.finished for s in self.sides.values()):
                self.done = True
        elif ftype in (ZABORT, ZCAN):
            self._abort(out, "aborted")

    # -- data subpackets -----------------------------------------------------------------------
    def _subpacket(self, side: _Side, out: list[Event]) -> bool:
        buf, data = side.buf, side.data
        while side.tail and buf and buf[0] in b"\r\n\x8a\x11":
            self._take(side, 1)
            side.tail -= 1
        if not buf:
            return False
        side.tail = 0
        i, n = 0, len(buf)
        while True:
            j = buf.find(ZDLE, i)
            data += (buf[i:] if j < 0 else buf[i:j]).translate(None, FLOW_CONTROL)
            if len(data) > MAX_SUBPACKET:
                self._consumed(side, n if j < 0 else j)
                return self._bad(side, out)
            if j < 0 or j + 1 >= n:
                self._consumed(side, n if j < 0 else j)
                return False
            e = buf[j + 1]
            if e in FRAME_ENDS:
                status, crc, end = _unescape(buf, j + 2, 4 if side.crc32 else 2)
                if status == "more":
                    self._consumed(side, j)
                    return False
                self._consumed(side, end)
                if status == "bad" or not self._crc_ok(side, e, crc):
                    return self._bad(side, out)
                self._deliver(side, e, out)
                return True
            if e in FLOW_CONTROL:          # XON/XOFF after ZDLE: flow control, skipped
                del buf[j + 1]
                side.position += 1
                n -= 1
                i = j
                continue
            if e == ZDLE:
                if buf[j:j + 5] == CANCEL:
                    self._consumed(side, j)
                    return self._bad(side, out)     # hunting then finds the cancel
                if len(buf) - j < 5 and not buf[j:].strip(b"\x18"):
                    self._consumed(side, j)
                    return False
                self._consumed(side, j + 1)
                return self._bad(side, out)
            if e in ESCAPED_RUB:
                data.append(ESCAPED_RUB[e])
            elif e & 0x60 == 0x40:
                data.append(e ^ 0x40)
            else:
                self._consumed(side, j + 2)
                return self._bad(side, out)
            i = j + 2

    def _consumed(self, side: _Side, size: int) -> None:
        del side.buf[:size]
        side.position += size

    def _crc_ok(self, side: _Side, end: int, crc: bytes) -> bool:
        body = bytes(side.data) + bytes([end])
        if side.crc32:
            return zlib.crc32(body) == int.from_bytes(crc, "little")
        return binascii.crc_hqx(body, 0) == int.from_bytes(crc, "big")

    def _bad(self, side: _Side, out: list[Event]) -> bool:
        """A subpacket that does not verify: its bytes go on unclaimed, hunting resumes."""
        if side.data:
            out.append(Unclaimed(side.direction, side.sub_at, bytes(side.data)))
        side.sub, side.data = 0, bytearray()
        return True

    def _deliver(self, side: _Side, end: int, out: list[Event]) -> None:
        data = bytes(side.data)
        if side.sub == ZFILE:
            nul = data.find(0)
            name = safe_name(data[:nul] if nul >= 0 else data)
            size = leading_int(data[nul + 1:]) if nul >= 0 else None
            if not (side.file and (name, size) == (side.name, side.size) and not side.pos):
                self._end_file(side, out, "a new file began")   # (a ZFILE sent again is the same file)
                self._open(side, out, name, size)
        elif side.sub == ZDATA:
            if data:
                out.append(FileData(side.direction, side.pos, data))
                side.pos += len(data)
        elif data:       # ZSINIT's attention string, a command, stderr text: the line's, not a file's
            out.append(Unclaimed(side.direction, side.sub_at, data))
        side.data, side.sub_at = bytearray(), side.position
        if end in (ZCRCE, ZCRCW) or side.sub == ZFILE:
            side.sub = 0

    # -- files ---------------------------------------------------------------------------------
    def _open(self, side: _Side, out: list[Event], name: str, size: int | None) -> None:
        side.file, side.name, side.size, side.pos, side.eof = True, name, size, 0, None
        out.append(FileStart(side.direction, "zmodem", name, size))

    def _end_file(self, side: _Side, out: list[Event], note: str) -> None:
        """The open file ends (a new file, ZFIN, a cancel): complete if its ZEOF came at its size."""
        if side.file:
            side.file = False
            complete = side.eof is not None and (side.size is None or side.eof >= side.size)
            if side.eof is not None and not complete:
                note = "shorter than announced"
            out.append(FileEnd(side.direction, complete, "" if complete else note))

    def _abort(self, out: list[Event], note: str) -> None:
        for side in self.sides.values():
            self._end_file(side, out, note)
        self.done = True
