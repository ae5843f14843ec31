"""Tile matrices: read segments from RunInfo structure, bounded cluster blocks, missing cycles as N."""

from __future__ import annotations

import numpy as np

from sandbox.runs import tiles


def test_segments_skip_index_reads():
    assert tiles.segments([(1, 151, False), (2, 8, True), (3, 8, True), (4, 151, False)], 318) == [
        (0, 151), (167, 318)]
    assert tiles.segments([], 7) == [(0, 7)]
    assert tiles.segments([(1, 10, True)], 10) == [(0, 10)]  # index-only structure: keep everything
    assert tiles.segments([(1, 151, False)], 151) == [(0, 151)]


def test_a_read_structure_that_would_hide_the_reads_is_not_believed():
    """RunInfo.xml is the instrument's: it cannot make the index skip the cycles of its reads."""
    whole = [(0, 159)]
    assert tiles.segments([(1, 151, True), (2, 8, False)], 159) == [(0, 151), (151, 159)]  # a "151-cycle index"
    assert tiles.segments([(1, 150, True), (2, 1, False), (3, 8, True)], 159) == [(0, 150), (150, 151)]
    assert tiles.segments([(n, 1, False) for n in range(159)], 159) == whole                # reads of a cycle each
    assert tiles.segments([(1, 24, True), (2, 30, False)] * 3, 162) == [(0, 162)]            # cut below a k-mer
    assert tiles.segments([(1, 20, False)], 159) == [(0, 20), (20, 159)]                    # cycles not declared
    assert tiles.segments([(1, 0, False), (2, -5, False), (3, 159, False)], 159) == [(0, 159)]


def test_tile_reads_in_blocks_with_missing_cycle(monkeypatch):
    monkeypatch.setattr(tiles, "MAX_MATRIX", 6)  # 2 clusters per block at 3 cycles
    cols = {0: b"ACGTA", 2: b"GGGGG"}

    def load(c, start, stop):
        return None if c not in cols else np.frombuffer(cols[c], dtype=np.uint8)[start:stop]

    assert list(tiles.tile_reads(5, 3, load, [])) == [b"ANG", b"CNG", b"GNG", b"TNG", b"ANG"]
    assert list(tiles.tile_reads(0, 3, load, [])) == []
