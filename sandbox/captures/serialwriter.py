"""Write serial-line recordings (LINKTYPE_RTAC_SERIAL, 250) byte-exactly: the bridge records with
it, tests build recordings with it.

    with SerialRecording(path) as rec:
        line = rec.add_line("/dev/ttyUSB0", "/dev/ttyS1", "115200 8N1", baud=115200)
        rec.event(line, "opened", "line", t=1.0)
        rec.data(line, "out", b"@read1\\nACGT...", t=1.1)      # the instrument transmitted
        rec.data(line, "in", b"OK\\r\\n", t=1.2)               # the instrument received
        rec.event(line, "unplugged", "host", t=2.0, detail="[Errno 5] Input/output error")

Every record is flushed to the OS as it is written, so a session following the file sees it at once.
See ``sandbox.captures.links.rtacserial`` for the format and how it is read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Self

from sandbox.captures.links.rtacserial import HEADER, LINES, RX, TX, describe
from sandbox.captures.writer import PcapngWriter

LINKTYPE_RTAC_SERIAL = 250
# Line event -> RTAC event type (Wireshark names them; ours add a note saying which).
EVENT_TYPES = {"opened": 0, "lines": 0, "unplugged": 0, "replugged": 0, "data-lost": 5, "closed": 6,
               "framing-error": 7, "parity-error": 8, "break": 9}
LINE_BITS = dict(LINES)


def line_bits(names: set[str] | frozenset[str]) -> int:
    """The control-lines byte for the lines that are up (``{"CTS", "DSR"}`` -> 0x05)."""
    return sum(LINE_BITS[n] for n in names if n in LINE_BITS)


def rtac_record(t: float, event: int, lines: int = 0, body: bytes = b"") -> bytes:
    """One RTAC serial record: the 12-byte header (time, event type, control lines) and the body."""
    usec = round(t * 1_000_000)
    return HEADER.pack(usec // 1_000_000, usec % 1_000_000, event, lines & 0x7F, 0) + body


class SerialRecording:
    """A pcapng of serial lines, one interface each, flushed record by record."""

    def __init__(self, path: Path | str | BinaryIO) -> None:
        self.writer = PcapngWriter(path, interfaces=[])
        self.lost: dict[int, int] = {}

    def add_line(self, instrument: str, host: str, settings: str, baud: int = 0) -> int:
        """A bridged line (instrument port, host port, settings such as ``115200 8N1``); its id."""
        line = self.writer.add_interface(LINKTYPE_RTAC_SERIAL, 6, name=host,
                                         description=describe(instrument, host, settings), speed=baud)
        self.writer.flush()
        return line

    def data(self, line: int, direction: str, data: bytes, t: float, lines: int = 0) -> None:
        """Bytes the instrument transmitted (``"out"``) or received (``"in"``) on ``line``."""
        self.writer.write(rtac_record(t, TX if direction == "out" else RX, lines, data), t, interface=line)
        self.writer.flush()

    def event(self, line: int, kind: str, side: str, t: float, lines: int = 0, detail: str = "") -> None:
        """A line event (``EVENT_TYPES``) on one side (``instrument``, ``host`` or ``line``)."""
        note = f"{kind} {side}" + (f": {detail}" if detail else "")
        self.writer.write(rtac_record(t, EVENT_TYPES[kind], lines, note.encode("ascii", "replace")), t,
                          interface=line)
        self.writer.flush()

    def data_lost(self, line: int, size: int, side: str, t: float, detail: str = "") -> None:
        """Bytes the port lost before the rig could read them (a UART overrun): an event, and the
        interface's drop counter (an Interface Statistics Block) so a replay's capture rows say so."""
        self.lost[line] = self.lost.get(line, 0) + size
        self.event(line, "data-lost", side, t, detail=detail or f"{size} bytes")
        self.writer.add_statistics(t, line, ifdrop=self.lost[line])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
