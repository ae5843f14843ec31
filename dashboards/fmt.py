"""Formatting shared by the panels: sizes, times, severity colours, redacted previews."""

from __future__ import annotations

import datetime as dt
import string

from sandbox.units import human_bytes  # noqa: F401  (re-exported for the panels)

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
SEVERITY_COLOURS = {  # text on a light tint of the same hue: readable, and still distinct in greyscale
    "critical": ("#ffffff", "#b91c1c"),
    "high": ("#ffffff", "#ea580c"),
    "medium": ("#1f2937", "#facc15"),
    "low": ("#1f2937", "#93c5fd"),
    "info": ("#1f2937", "#e5e7eb"),
}
PREVIEW_MAX_BYTES = 64  # enough to recognise a format or a header, too little to carry run data
_PRINTABLE = frozenset(string.printable.encode()) - frozenset(b"\t\n\r\x0b\x0c")
_TEXT_TABLE = bytes(b if b in _PRINTABLE else ord(".") for b in range(256))


def duration(seconds: float | None) -> str:
    """3725 -> '1h 02m 05s'."""
    if seconds is None or seconds < 0:
        return "-"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h {m:02d}m {s:02d}s"
    if m:
        return f"{m}m {s:02d}s"
    return f"{s}s"


def clock(t: float | None) -> str:
    """Epoch seconds -> 'YYYY-MM-DD HH:MM:SS.mmm' in UTC (captures carry UTC epoch times)."""
    if t is None:
        return "-"
    stamp = dt.datetime.fromtimestamp(float(t), tz=dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"


def short_clock(t: float | None) -> str:
    """Epoch seconds -> 'MM-DD HH:MM:SS' (UTC) for table cells."""
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(float(t), tz=dt.UTC).strftime("%m-%d %H:%M:%S")


def iso(t: float) -> str:
    """Epoch seconds -> ISO string plotly reads as a date axis value."""
    return dt.datetime.fromtimestamp(float(t), tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def short_list(items: list[str] | None, keep: int = 3) -> str:
    items = items or []
    head = ", ".join(str(i) for i in items[:keep])
    return head + (f" (+{len(items) - keep})" if len(items) > keep else "")


def preview_bytes(ev: dict) -> bytes:
    """The evidence preview as bytes, whichever key the correlator used, cut to the display cap."""
    raw = ev.get("preview_hex") or ev.get("hex")
    if isinstance(raw, str):
        try:
            return bytes.fromhex(raw.replace(" ", ""))[:PREVIEW_MAX_BYTES]
        except ValueError:
            return raw.encode("utf-8", "replace")[:PREVIEW_MAX_BYTES]
    text = ev.get("preview")
    if isinstance(text, str):
        return text.encode("utf-8", "replace")[:PREVIEW_MAX_BYTES]
    return b""


def hexdump(data: bytes, base: int = 0, width: int = 16) -> str:
    """Classic offset / hex / text lines (what Wireshark's bytes pane shows)."""
    lines = []
    for i in range(0, len(data), width):
        chunk = data[i:i + width]
        hexpart = chunk.hex(" ")
        lines.append(f"{base + i:08x}  {hexpart:<{width * 3 - 1}}  {chunk.translate(_TEXT_TABLE).decode('ascii')}")
    return "\n".join(lines)
