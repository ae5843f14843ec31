"""What the network links a serial line may carry share (PPP, SLIP): frames between delimiters.

A link takes the line over once its first verified frame is found and keeps it while frames keep
verifying (a link that said it is over and goes on framing goes on: its peer's state is kept).  A
quiet line is an idle link, never its end, and a pause never cuts a frame (a modem's error correction
delivers in bursts): what is held goes raw when the line goes quiet, and stays held.  Per direction
it keeps the bytes since the last verified frame: a candidate frame runs from one delimiter to the next, and what precedes a
verified one (noise, a frame that failed its check) goes raw.  When ``UNFRAMED_LIMIT`` bytes pass with
no verified frame, or after the link said it is over other bytes come or the line goes quiet, it is
done and the bytes after its end are the line's again (``Released``: the line parser scans them for
the next session's start, and sends raw those ``idle`` did not already).  Linear: each byte is
in one candidate frame, checked once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

from sandbox.protocols.serial.transfer import Event, Released, Unclaimed
from sandbox.protocols.serial.vj import VjDecompressor


class Weak:
    """What ``take`` says of bytes that may be a frame it cannot verify (compressed TCP of a connection
    never seen, on a link without a frame check)."""

    def __bool__(self) -> bool:
        return True


WEAK = Weak()
# Bytes with no verified frame after which the line no longer carries the link.
UNFRAMED_LIMIT = 16 << 10
# After the link said it is over: bytes other than frames that show it is ("NO CARRIER", a prompt).
ENDING_SLACK = 64


def first_frame(data: bytes, fresh: int, delimiter: bytes, smallest: int, largest: int,
                vouched: Callable[[bytes], bool]) -> tuple[int, int]:
    """``Transfer.find`` for a link: a delimiter opening a frame ``vouched`` takes (frames that closed in
    ``data[:fresh]`` were judged by the last call), else -1, held from the last delimiter."""
    i = data.find(delimiter, max(data.rfind(delimiter, 0, fresh), 0) if fresh else 0)
    while i >= 0:
        j = data.find(delimiter, i + 1)
        if j < 0:
            break
        if smallest <= j - i - 1 <= largest and vouched(data[i + 1:j]):
            return i, i
        i = j
    return -1, i if i >= 0 and len(data) - i <= largest else len(data)


class LinkSide:
    """One direction of a link: the bytes held since its last verified frame, and header state."""

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.raw = b""             # bytes since the end of the last verified frame
        self.raw_pos = 0           # stream position of raw[0]
        self.frame_start = 0       # where in raw the frame being received begins (after a delimiter)
        self.scanned_to = 0        # stream position up to which held bytes already went raw (``idle``)
        self.vj = VjDecompressor()


class FramedLink:
    """Base of the link decoders (a ``Transfer``): subclasses say what delimits a frame and what a
    frame between two delimiters carries (``take``)."""

    name: ClassVar[str]
    framing: ClassVar[bytes]        # the delimiter
    stall_s: ClassVar[float] = math.inf     # a link may sit idle for hours and go on

    def __init__(self, direction: str) -> None:
        self.sides = {"out": self.side("out"), "in": self.side("in")}
        self.done = False
        # the direction whose frame said the link is over (``take``: a Terminate-Ack); a frame of its after
        # that says otherwise.  The other direction's frames may still come: two readers record a line,
        # and the peer's answer can be recorded before the last frames it answers
        self.ending: str | None = None

    def side(self, direction: str) -> LinkSide:
        return LinkSide(direction)

    @property
    def busy(self) -> bool:
        return True            # the link is up until it ends: a quiet line is an idle link

    def take(self, side: LinkSide, content: bytes, at: int, out: list[Event]) -> bool | Weak:
        """The bytes between two delimiters (``at``: where they begin in the stream): True, with the
        frame's events added, when they are a verified frame of the link; ``WEAK`` when they may be one
        the link cannot verify (events added, its bytes sent raw: it does not keep the link up); a frame
        that ends the link sets ``ending`` to its direction."""
        raise NotImplementedError

    def feed(self, direction: str, data: bytes) -> list[Event]:
        side = self.sides[direction]
        out: list[Event] = []
        delimiter = self.framing
        raw = side.raw + data
        base, start = 0, side.frame_start      # raw[base:]: bytes since the last verified frame
        j = raw.find(delimiter, len(side.raw))
        while j >= 0 and not self.done:
            if j > start:
                mark, ending = len(out), self.ending
                if ending == direction:
                    self.ending = None
                taken = self.take(side, raw[start:j], side.raw_pos + start - base, out)
                if taken:                       # the bytes before it, since the last frame, go raw
                    stretch = max(0, start - 1 - base)
                    before = self._unscanned(side, raw[base:base + stretch])
                    if before.strip(delimiter):
                        out.insert(mark, Unclaimed(direction, side.raw_pos + stretch - len(before), before))
                if taken is True:
                    side.raw_pos += j - base
                    base = j                    # its closing delimiter may open the next frame
                else:
                    self.ending = ending
                    if taken is WEAK:           # its bytes went raw; it vouches for nothing after it
                        side.scanned_to = max(side.scanned_to, side.raw_pos + j - base)
            start = j + 1
            j = raw.find(delimiter, start)
        side.raw, side.frame_start = raw[base:], min(start - base, len(raw) - base)
        if len(side.raw) > UNFRAMED_LIMIT or (self.ending == direction
                                              and len(side.raw.replace(delimiter, b"")) > ENDING_SLACK):
            self._end(out)
        return out

    def _end(self, out: list[Event]) -> None:
        """The link is over: what each side holds is the line's again, to be scanned for what comes next."""
        self.done = True
        for s in self.sides.values():
            if s.raw:
                out.append(Released(s.direction, s.raw_pos, s.raw, scanned=max(0, min(len(s.raw), s.scanned_to - s.raw_pos))))
            s.raw_pos += len(s.raw)
            s.raw, s.frame_start = b"", 0

    @staticmethod
    def _unscanned(side: LinkSide, held: bytes) -> bytes:
        """The end of ``held`` (bytes from ``side.raw_pos``) that ``idle`` has not yet sent raw."""
        return held[max(0, side.scanned_to - side.raw_pos):]

    def idle(self) -> list[Event]:
        """The line went quiet: after the link said it is over, it is (a hang-up's "NO CARRIER" is the
        line's); else bytes held for a frame not yet verified go raw now (their analysis does not
        wait), and stay held, so a frame a pause cut in two still verifies when the rest comes."""
        out: list[Event] = []
        if self.ending:
            self._end(out)
            return out
        for side in self.sides.values():
            rest = self._unscanned(side, side.raw)
            if rest.strip(self.framing):
                out.append(Unclaimed(side.direction, side.raw_pos + len(side.raw) - len(rest), rest))
            side.scanned_to = side.raw_pos + len(side.raw)
        return out

    def close(self) -> list[Event]:
        out = self.idle()
        for side in self.sides.values():
            side.raw_pos += len(side.raw)
            side.raw, side.frame_start = b"", 0
        self.done = True
        return out
