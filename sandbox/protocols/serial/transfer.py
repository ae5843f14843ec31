"""What a file-transfer decoder on a serial line is, and what it tells the line parser.

A transfer decoder (XMODEM/YMODEM, ZMODEM; a network link, PPP or SLIP) is sans-IO and incremental: the line parser finds where
one starts (``find``), then feeds it both directions of the line until it is ``done``.  It answers
with events: a file begins (with its name when the protocol carries one), file bytes at an offset,
a file ends, or a link carried an IP packet; and ``Unclaimed`` for every byte it cannot account for as framing or verified file
data (garbage, a block whose CRC fails, a command), which the line parser scans as raw bytes: a
sender that mangles its framing on purpose hides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

# File names are the instrument's words: kept printable and this short (a path of a few folders).
MAX_NAME = 200
# Capture-time seconds a file transfer may go silent before it is given up: lrzsz retries ten times
# with 10 s timeouts before it cancels; a longer silence is a line gone raw.
FILE_STALL_S = 60.0


@dataclass(slots=True)
class FileStart:
    direction: str          # the sender's side: "out" when the instrument sends the file
    protocol: str           # "xmodem", "ymodem", "zmodem"
    name: str = ""          # "" when the protocol names no file (XMODEM)
    size: int | None = None
    note: str = ""          # e.g. picked up midway: offsets count from there, not from the file's start


@dataclass(slots=True)
class FileData:
    direction: str
    offset: int             # where ``data`` sits in the file
    data: bytes


@dataclass(slots=True)
class FileEnd:
    direction: str
    complete: bool
    note: str = ""


@dataclass(slots=True)
class Unclaimed:
    """Bytes the transfer does not explain; ``position`` is where they began in the transfer's
    stream of that direction (bytes fed to it since it started)."""

    direction: str
    position: int
    data: bytes


@dataclass(slots=True)
class Packet:
    """An IP packet a network link on the line carried (PPP, SLIP): dissected as captured traffic."""

    direction: str
    data: bytes


@dataclass(slots=True)
class Unread:
    """``size`` bytes the link carried that the rig could not read (``what``: a compression or
    encryption it does not undo): said in the verdict when the instrument sent them."""

    direction: str
    what: str
    size: int


@dataclass(slots=True)
class Released:
    """Bytes after the session ended, the line's again (``position`` as for ``Unclaimed``): the line
    parser scans them for the next session's start as it does any line bytes; the first ``scanned``
    of them already went raw (as ``Unclaimed``) and do not again."""

    direction: str
    position: int
    data: bytes
    scanned: int = 0


Event = FileStart | FileData | FileEnd | Unclaimed | Packet | Unread | Released


class Transfer(Protocol):
    name: ClassVar[str]
    # Single bytes the decoder may take as framing outside verified blocks (ACK, NAK, XON...);
    # every other byte it does not verify comes back ``Unclaimed``.
    framing: ClassVar[bytes]
    # Capture-time seconds of silence after which the session is given up (a network link never is).
    stall_s: ClassVar[float]
    done: bool    # the session ended (or was cancelled): later bytes are the line's again

    @staticmethod
    def find(data: bytes, fresh: int = 0) -> tuple[int, int]:
        """``(start, hold)``: where a verified start of this protocol begins in ``data`` (-1: none),
        and from where the tail must be held back because a start may still be completing.
        ``data[:fresh]`` was held back from the last call: a start that would have been complete in
        it then was not one (a decoder may skip judging it again: a line fed byte by byte stays linear)."""

    def __init__(self, direction: str) -> None:
        """``direction``: the side ``find`` found the start on."""

    def feed(self, direction: str, data: bytes) -> list[Event]: ...

    def idle(self) -> list[Event]:
        """The line went quiet while the session goes on: bytes held back come out (their analysis
        does not wait for more), state stays."""

    def close(self) -> list[Event]:
        """The line ended or the transfer stalled: what is held comes out, open files end."""

    @property
    def busy(self) -> bool:
        """A file is in progress (a quiet line then is a stall, not the end)."""


def safe_name(raw: bytes) -> str:
    """A file name from the line made safe once: decoded, printable, bounded."""
    text = raw[:MAX_NAME * 4].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)[:MAX_NAME]


def leading_int(text: bytes, limit: int = 20) -> int | None:
    """The decimal number ``text`` starts with (a file size field), or None."""
    digits = bytearray()
    for b in text[:limit]:
        if 0x30 <= b <= 0x39:
            digits.append(b)
        else:
            break
    return int(digits) if digits else None
