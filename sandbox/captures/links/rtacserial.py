"""LINKTYPE_RTAC_SERIAL (250): serial line events, as Wireshark's ``rtacser`` dissector reads them.

Each record is a 12-byte big-endian header, then the event's bytes (Wireshark's packet-rtacser.c):
seconds u32, microseconds u32 (when the event happened), event type u8, control lines u8 (CTS 0x01,
DCD 0x02, DSR 0x04, RTS 0x08, DTR 0x10, RI 0x20, MBOK 0x40), footer u16.

The rig's serial bridge (``hw/serial``) writes one pcapng interface per bridged line:
``if_name`` is the host port, ``if_description`` is ``serial line: instrument PORT | host PORT |
115200 8N1 rtscts`` and ``if_speed`` the baud rate.  ``DATA_TX`` records carry the bytes the
*instrument* transmitted (direction "out": what may leak), ``DATA_RX`` the bytes it received.  Other
events carry a short ASCII note ``"<event> <side>[: detail]"`` (``unplugged host: [Errno 5] ...``,
``break instrument``); in recordings from elsewhere they have none and the event type says it all.

A line is one flow: ``src`` is the host port (the far end, where the instrument's bytes go, so the
port is a finding's destination), ``dst`` the instrument port; data Segments carry
``meta["direction"]``, line events (no data) carry ``meta["line"]`` for the flow's books.
"""

from __future__ import annotations

import struct
from typing import Any

from sandbox.model import Segment

HEADER = struct.Struct(">IIBBH")
TX, RX, TX_END, RX_END = 1, 2, 3, 4
# Event type -> what a line event is called when its record has no note of its own.
EVENTS = {0: "lines", 5: "data-lost", 6: "closed", 7: "framing-error", 8: "parity-error", 9: "break",
          10: "data-lost"}
LINES = (("CTS", 0x01), ("DCD", 0x02), ("DSR", 0x04), ("RTS", 0x08), ("DTR", 0x10), ("RI", 0x20))
SIDES = {"instrument": "out", "host": "in", "line": "out"}
DESCRIPTION_PREFIX = "serial line: "
# Characters of an event's name: ours are a word ("unplugged"); a longer one is not ours.
MAX_EVENT_NAME = 32
# Characters of an event note kept: a reason such as an errno text; the rest is noise.
MAX_NOTE = 200
# Interfaces whose line description is kept parsed (a recording has a few; a hostile one many).
MAX_CACHED_LINES = 1024
PER_INTERFACE = True   # the capture hands ``segments`` the pcapng interface (it names the port)

_lines_cache: dict[tuple[int, str, str], dict[str, Any]] = {}


def describe(instrument: str, host: str, settings: str) -> str:
    """The ``if_description`` of a bridged line (the writer's half of ``line_of``)."""
    return f"{DESCRIPTION_PREFIX}instrument {instrument} | host {host} | {settings}"


def line_of(interface: Any) -> dict[str, Any]:
    """Ports and settings of the line an interface recorded (defaults for foreign recordings)."""
    if interface is None:
        return {"host": "serial", "instrument": "instrument"}
    key = (interface.index, interface.name, interface.description)
    line = _lines_cache.get(key)
    if line is None:
        line = {"host": interface.name or f"interface {interface.index}", "instrument": "instrument"}
        text = interface.description
        parts = text[len(DESCRIPTION_PREFIX):].split(" | ") if text.startswith(DESCRIPTION_PREFIX) else []
        if len(parts) == 3 and parts[0].startswith("instrument ") and parts[1].startswith("host "):
            line.update(instrument=parts[0][11:], host=parts[1][5:], settings=parts[2])
        if interface.speed:
            line["baud"] = interface.speed
        if len(_lines_cache) >= MAX_CACHED_LINES:
            _lines_cache.clear()
        _lines_cache[key] = line
    return line


def lines_text(bits: int) -> str:
    """Control lines that are up, as Wireshark lists them (``"CTS DSR DTR"``)."""
    return " ".join(name for name, bit in LINES if bits & bit)


def segments(data: bytes, t: float, frame: int, interface: Any = None) -> list[Segment]:
    _, _, event, bits, _ = HEADER.unpack_from(data)
    body = data[HEADER.size:]
    line = line_of(interface)
    host, instrument = line["host"], line["instrument"]
    if event in (TX, RX, TX_END, RX_END):
        if not body:
            return []
        direction = "out" if event in (TX, TX_END) else "in"
        return [Segment(t, "serial", "serial", host, 0, instrument, 0, body, frame=frame,
                        meta={"direction": direction})]
    note = "".join(c if c.isprintable() else " " for c in body[:MAX_NOTE].decode("ascii", "replace"))
    name, _, detail = note.partition(":")
    words = name.split()
    kind = words[0][:MAX_EVENT_NAME] if words else EVENTS.get(event, f"event-{event}")
    side = words[1] if len(words) > 1 and words[1] in SIDES else "line"
    info = {**line, "event": kind, "side": side, "lines": lines_text(bits)}
    if detail.strip():
        info["note"] = detail.strip()
    return [Segment(t, "serial", "serial", host, 0, instrument, 0, b"", frame=frame,
                    meta={"direction": SIDES[side], "line": info})]
