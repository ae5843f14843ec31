from __future__ import annotations

import numpy as np

from sandbox.correlate import intervals
from sandbox.correlate.intervals import IntervalSet


def test_union_of_overlapping_and_adjacent_ranges():
    s = IntervalSet()
    s.add([0, 50, 200], [100, 120, 300])
    s.add([100, 400], [150, 410])
    assert s.starts.tolist() == [0, 200, 400] and s.ends.tolist() == [150, 300, 410]
    assert s.total() == 150 + 100 + 10


def test_capped(monkeypatch):
    monkeypatch.setattr(intervals, "MAX_RANGES", 100)
    s = IntervalSet()
    starts = np.arange(0, 100_000, 100)
    s.add(starts, starts + 10)
    assert len(s) <= 100 and s.total() >= 10_000
