"""Reading a port with termios PARMRK set: the kernel marks what plain reads would hide.

With PARMRK (and IGNBRK, BRKINT, ISTRIP off) a received BREAK reads as ``\\377 \\0 \\0``, a byte
with a framing or parity error X as ``\\377 \\0 X``, and a data byte 0xFF as ``\\377 \\377``; without
it a BREAK is a plain zero byte, indistinguishable from data (measured with pyserial).  ``Unmarker``
undoes the marking across reads: data comes back byte-exact, breaks and errors as events in order.
"""

from __future__ import annotations

MARK = 0xFF


class Unmarker:
    """PARMRK-marked reads in, ``("data", bytes) | ("break", b"") | ("error", b"X")`` out."""

    def __init__(self) -> None:
        self.carry = b""      # a mark cut by the end of a read

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        if self.carry:
            data, self.carry = self.carry + data, b""
        i = data.find(MARK)
        if i < 0:
            return [("data", data)] if data else []
        out: list[tuple[str, bytes]] = []
        buf = bytearray()
        pos, n = 0, len(data)
        while i >= 0:
            buf += data[pos:i]
            if i + 1 >= n or (data[i + 1] == 0 and i + 2 >= n):
                self.carry = data[i:]
                pos = n
                break
            if data[i + 1] == MARK:
                buf.append(MARK)
                pos = i + 2
            elif data[i + 1] == 0:
                if buf:
                    out.append(("data", bytes(buf)))
                    buf = bytearray()
                x = data[i + 2]
                out.append(("break", b"") if x == 0 else ("error", bytes([x])))
                pos = i + 3
            else:               # not a mark (PARMRK was off for a moment): the byte as it came
                buf.append(MARK)
                pos = i + 1
            i = data.find(MARK, pos)
        buf += data[pos:]
        if buf:
            out.append(("data", bytes(buf)))
        return out
