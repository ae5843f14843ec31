"""A serial line's events (settings, unplug and replug, breaks, lost bytes) kept in its flow's meta.

The recording carries them as RTAC line events (``sandbox.captures.links.rtacserial``); the flow
table hands each to ``note_line_event``, so the dashboard's serial panel shows the line's settings,
its gaps (when a port was unplugged, for how long) and its breaks, live and in a replay alike.
"""

from __future__ import annotations

from typing import Any

from sandbox.model import FlowInfo

# Gaps listed per line (the latest ones); their count and total time cover all of them.
MAX_GAPS = 20
# Events counted by name; anything else a recording says is counted as "other".
COUNTED = ("opened", "closed", "unplugged", "replugged", "break", "lines", "data-lost", "framing-error",
           "parity-error")


def note_line_event(info: FlowInfo, line: dict[str, Any], t: float) -> None:
    meta = info.meta
    for key in ("instrument", "host", "settings", "baud"):
        if key in line:
            meta[key] = line[key]
    if "host" in line:
        meta["port"] = line["host"]
    if line.get("lines") is not None:
        meta["lines"] = line["lines"]
    event, side = line.get("event", ""), line.get("side", "line")
    counts = meta.setdefault("events", {})
    name = event if event in COUNTED else "other"
    counts[name] = counts.get(name, 0) + 1
    down: dict[str, float] = meta.setdefault("down", {})
    if event == "unplugged" and side not in down:
        down[side] = t
        gaps = meta.setdefault("gaps", [])
        gaps.append([side, t, None, line.get("note", "")])
        del gaps[:-MAX_GAPS]
        meta["gap_count"] = meta.get("gap_count", 0) + 1
    elif event == "replugged" and side in down:
        since = down.pop(side)
        meta["gap_seconds"] = round(meta.get("gap_seconds", 0.0) + max(0.0, t - since), 6)
        for gap in reversed(meta.get("gaps", [])):
            if gap[0] == side and gap[2] is None:
                gap[2] = t
                break
