"""A line's events in its flow's books: settings, gaps (bounded), breaks, and what is not ours."""

from __future__ import annotations

from sandbox.model import FlowInfo
from sandbox.protocols.serial.events import MAX_GAPS, note_line_event


def test_gaps_per_side_settings_and_counts():
    info = FlowInfo("serial a > b", "serial", "serial", "a", 0, "b", 0)
    base = {"host": "b", "instrument": "a", "settings": "115200 8N1", "baud": 115200}
    note_line_event(info, {**base, "event": "opened", "side": "line", "lines": "CTS DSR"}, 1.0)
    note_line_event(info, {**base, "event": "unplugged", "side": "instrument", "note": "[Errno 5]"}, 2.0)
    note_line_event(info, {**base, "event": "unplugged", "side": "instrument"}, 2.5)     # said twice: one gap
    note_line_event(info, {**base, "event": "unplugged", "side": "host"}, 3.0)
    assert info.meta["down"] == {"instrument": 2.0, "host": 3.0}
    note_line_event(info, {**base, "event": "replugged", "side": "instrument"}, 4.0)
    note_line_event(info, {**base, "event": "replugged", "side": "host"}, 4.5)
    note_line_event(info, {**base, "event": "break", "side": "instrument"}, 5.0)
    note_line_event(info, {**base, "event": "x" * 30, "side": "line"}, 6.0)
    meta = info.meta
    assert (meta["port"], meta["settings"], meta["lines"]) == ("b", "115200 8N1", "CTS DSR")
    assert meta["gaps"] == [["instrument", 2.0, 4.0, "[Errno 5]"], ["host", 3.0, 4.5, ""]]
    assert (meta["gap_count"], meta["gap_seconds"], meta["down"]) == (2, 3.5, {})
    assert meta["events"] == {"opened": 1, "unplugged": 3, "replugged": 2, "break": 1, "other": 1}


def test_gaps_listed_are_bounded_but_counted_in_full():
    info = FlowInfo("serial a > b", "serial", "serial", "a", 0, "b", 0)
    for i in range(MAX_GAPS * 3):
        note_line_event(info, {"event": "unplugged", "side": "host"}, float(i))
        note_line_event(info, {"event": "replugged", "side": "host"}, i + 0.5)
    assert len(info.meta["gaps"]) == MAX_GAPS and info.meta["gap_count"] == MAX_GAPS * 3
    assert info.meta["gaps"][-1] == ["host", MAX_GAPS * 3 - 1.0, MAX_GAPS * 3 - 0.5, ""]
