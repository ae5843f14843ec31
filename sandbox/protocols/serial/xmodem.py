"""XMODEM (checksum, CRC, 1K) and YMODEM (named files, batches, -g) on a serial line.

The sender's blocks are ``SOH|STX, n, 255-n, 128|1024 data bytes, check``: an 8-bit sum in
checksum mode, a CRC-16/XMODEM (big-endian) in CRC mode; STX blocks are always CRC.  Block numbers
start at 1 and wrap at 256; a repeated number is a retransmission.  ``EOT`` ends a file.  YMODEM
first sends block 0: ``name NUL size mtime mode ...``; an empty name ends the batch.  The receiver
answers with single bytes (``ACK NAK C G CAN``).  XMODEM carries no length: its last block is padded
with ^Z (SUB), which is stripped.

Checksum or CRC is known from the receiver's first word (``C`` or NAK) or from a block that verifies;
a corrupted block (its check fails) is passed on as unclaimed bytes, and its retransmission as file
data, so noise costs nothing and a forged block hides nothing.
"""

from __future__ import annotations

import binascii
import re
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

SOH, STX, EOT, ACK, NAK, CAN, SUB = 0x01, 0x02, 0x04, 0x06, 0x15, 0x18, 0x1A
BLOCK = {SOH: 128, STX: 1024}
_STARTS = re.compile(rb"[\x01\x02]")
# What may follow a checksum-verified block 1: block 2 (either size) or block 1 sent again.
FOLLOWERS = (b"\x01\x02\xfd", b"\x02\x02\xfd", b"\x01\x01\xfe")
_SENDER_MARKS = re.compile(rb"[\x01\x02\x04\x18]")
# What a receiver says: ACK, NAK, 'C' (CRC please), 'G' (YMODEM-g), CAN, BS (after a cancel).
_NOT_RECEIVER = re.compile(rb"[^\x06\x15\x18\x08CG]+")
# Cancels: two CANs in a row (lrzsz sends eight, then eight backspaces).
CANCEL = b"\x18\x18"


def _other(direction: str) -> str:
    return "in" if direction == "out" else "out"


def _crc_ok(buf: bytes | bytearray, at: int, size: int) -> bool:
    end = at + 3 + size
    return binascii.crc_hqx(buf[at + 3:end], 0) == (buf[end] << 8 | buf[end + 1])


def _sum_ok(buf: bytes | bytearray, at: int, size: int) -> bool:
    end = at + 3 + size
    return sum(buf[at + 3:end]) & 0xFF == buf[end]


def _header(payload: bytes) -> tuple[str, int | None] | None:
    """A YMODEM block 0 (its CRC verified): (file name made safe, size or None); ``("", None)``
    ends the batch; None: not one."""
    nul = payload.find(0)
    if nul < 0:
        return None
    if nul == 0:          # a null path name ends the batch (lrzsz leaves junk after it)
        return "", None
    return safe_name(payload[:nul]), leading_int(payload[nul + 1:])


class XmodemTransfer:
    """One XMODEM transfer or one YMODEM batch; see the module docstring."""

    name: ClassVar[str] = "xmodem"
    framing: ClassVar[bytes] = b"\x04\x06\x08\x15\x18CG"
    stall_s: ClassVar[float] = FILE_STALL_S

    @staticmethod
    def find(data: bytes, fresh: int = 0) -> tuple[int, int]:
        """A CRC-verified block (block 0 only as a YMODEM header), or block 1 by checksum followed
        by block 2 (or block 1 again, or EOT): an 8-bit sum alone is too easy to meet by chance."""
        n = len(data)
        m = _STARTS.search(data)
        while m is not None:
            i = m.start()
            if i + 3 > n:
                return -1, i
            blk = data[i + 1]
            if blk + data[i + 2] == 255:
                size = BLOCK[data[i]]
                if i + 5 + size > n:
                    return -1, i          # cannot tell yet (a checksum block is one byte shorter)
                if _crc_ok(data, i, size) and (blk or (_header(data[i + 3:i + 3 + size]) or ("",))[0]):
                    return i, i
                if data[i] == SOH and blk == 1 and _sum_ok(data, i, size):
                    after = data[i + 4 + size:i + 7 + size]
                    if after[:1] == b"\x04" or after in FOLLOWERS:
                        return i, i
                    if len(after) < 3:
                        return -1, i
            m = _STARTS.search(data, i + 1)
        return -1, n

    def __init__(self, direction: str) -> None:
        self.sender = direction
        self.receiver = _other(direction)
        self.buf = bytearray()
        self.position = 0           # sender stream position of buf[0]
        self.rposition = 0          # receiver stream position
        self.mode: str | None = None      # "crc" | "checksum" once a block verified
        self.hint: str | None = None      # what the receiver asked for
        self.protocol = "xmodem"
        self.state = "start"        # start | file | between (YMODEM, after EOT) | ended (XMODEM)
        self.expected: int | None = None
        self.size: int | None = None
        self.written = 0            # file offset of the next byte handed out
        self.held = b""             # an XMODEM block held back: it may be the padded last one
        self.done = False     # the session ended: later bytes are the line's

    @property
    def busy(self) -> bool:
        return self.state == "file"

    def feed(self, direction: str, data: bytes) -> list[Event]:
        out: list[Event] = []
        if direction == self.sender:
            self.buf += data
            self._sender(out, closing=False)
        else:
            self._receiver(data, out)
        return out

    def idle(self) -> list[Event]:
        return []     # what is held is a block still arriving: judged when it completes or the line ends

    def close(self) -> list[Event]:
        out: list[Event] = []
        self._sender(out, closing=True)
        if self.buf:
            self._unclaim(len(self.buf), out)
        self._end_file(out, complete=False, note="transfer cut short")
        self.done = True
        return out

    # -- receiver ------------------------------------------------------------------------------
    def _receiver(self, data: bytes, out: list[Event]) -> None:
        base = self.rposition
        self.rposition += len(data)
        for m in _NOT_RECEIVER.finditer(data):
            out.append(Unclaimed(self.receiver, base + m.start(), m.group()))
        if self.hint is None:
            if b"C" in data or b"G" in data:
                self.hint = "crc"
            elif bytes([NAK]) in data:
                self.hint = "checksum"
        if CANCEL in data:
            self._end_file(out, complete=False, note="cancelled by the receiver")
            self.done = True

    # -- sender --------------------------------------------------------------------------------
    def _take(self, size: int) -> bytes:
        piece = bytes(self.buf[:size])
        del self.buf[:size]
        self.position += size
        return piece

    def _unclaim(self, size: int, out: list[Event]) -> None:
        at = self.position
        out.append(Unclaimed(self.sender, at, self._take(size)))

    def _sender(self, out: list[Event], closing: bool) -> None:
        buf = self.buf
        while buf and not self.done:
            b = buf[0]
            if self.state == "ended" and b != EOT:
                self.done = True
                break
            if b in BLOCK:
                if not self._block(out, closing):
                    break
            elif b == EOT:
                self._take(1)
                self._eot(out)
            elif b == CAN:
                if len(buf) < 2:
                    break
                if buf[1] == CAN:
                    self._take(len(buf) - len(buf.lstrip(b"\x18\x08")))
                    self._end_file(out, complete=False, note="cancelled by the sender")
                    self.done = True
                else:
                    self._unclaim(1, out)
            else:
                m = _SENDER_MARKS.search(buf, 1)
                self._unclaim(m.start() if m else len(buf), out)
        if self.done and buf:
            self._unclaim(len(buf), out)

    def _block(self, out: list[Event], closing: bool) -> bool:
        """One block at the head of the buffer; False when more bytes are needed."""
        buf = self.buf
        if len(buf) < 3:
            return False
        kind, blk = buf[0], buf[1]
        if blk + buf[2] != 255:
            self._unclaim(1, out)
            return True
        size = BLOCK[kind]
        mode = "crc" if kind == STX else self.mode
        if mode is None:
            if len(buf) >= 5 + size:
                mode = "crc" if _crc_ok(buf, 0, size) else "checksum"
            elif len(buf) == 4 + size and (closing or self.hint == "checksum"):
                mode = "checksum"
            else:
                return False
        length = 3 + size + (2 if mode == "crc" else 1)
        if len(buf) < length:
            return False
        if not (_crc_ok(buf, 0, size) if mode == "crc" else _sum_ok(buf, 0, size)):
            self._unclaim(length, out)     # noise (it will be sent again) or a forgery: scanned raw
            return True
        if kind == SOH:
            self.mode = mode
        at = self.position
        payload = self._take(length)[3:3 + size]
        self._accept(blk, payload, at, out)
        return True

    def _accept(self, blk: int, payload: bytes, at: int, out: list[Event]) -> None:
        if self.state in ("start", "between") and blk == 0:
            header = _header(payload)
            if header is None:
                out.append(Unclaimed(self.sender, at, payload))
                return
            name, size = header
            if not name:            # the empty header: end of the batch
                self.done = True
                return
            self.protocol, self.state, self.expected = "ymodem", "file", 1
            self.size, self.written, self.held = size, 0, b""
            out.append(FileStart(self.sender, "ymodem", name, size))
            return
        if self.state == "start":   # XMODEM, or a transfer picked up after its first blocks
            self.state, self.expected, self.written = "file", blk, 0
            note = "" if blk == 1 else f"picked up at block {blk}: offsets count from there"
            out.append(FileStart(self.sender, "xmodem", note=note))
        if self.state != "file":
            out.append(Unclaimed(self.sender, at, payload))
            return
        if blk == self.expected:
            self.expected = (blk + 1) & 0xFF
            if self.size is not None:
                payload = payload[:max(0, self.size - self.written)]
                self._emit(payload, out)
            else:
                held, self.held = self.held, payload
                self._emit(held, out)
        elif blk != (self.expected - 1) & 0xFF:     # not a retransmission: out of sequence
            out.append(Unclaimed(self.sender, at, payload))

    def _emit(self, data: bytes, out: list[Event]) -> None:
        if data:
            out.append(FileData(self.sender, self.written, data))
            self.written += len(data)

    def _eot(self, out: list[Event]) -> None:
        if self.state != "file":
            return
        self._emit(self.held.rstrip(bytes([SUB])), out)
        self.held = b""
        complete = self.size is None or self.written >= self.size
        out.append(FileEnd(self.sender, complete, "" if complete else "shorter than announced"))
        self.state = "between" if self.protocol == "ymodem" else "ended"
        self.size = None

    def _end_file(self, out: list[Event], complete: bool, note: str) -> None:
        if self.state == "file":
            self._emit(self.held, out)
            self.held = b""
            out.append(FileEnd(self.sender, complete, note))
            self.state = "ended"
