"""Tile matrices: read segments from RunInfo structure, bounded cluster blocks, missing cycles as N."""

from __future__ import annotations

import numpy as np

from sandbox.runs import tiles


def test_segments_skip_index_reads():
    assert tiles.segments([(1, 4, False), (2, 2, True), (3, 4, False)], 10) == [(0, 4), (6, 10)]
    assert tiles.segments([], 7) == [(0, 7)]
    assert tiles.segments([(1, 4, True)], 4) == [(0, 4)]  # index-only structure: keep everything


def test_tile_reads_in_blocks_with_missing_cycle(monkeypatch):
    monkeypatch.setattr(tiles, "MAX_MATRIX", 6)  # 2 clusters per block at 3 cycles
    cols = {0: b"ACGTA", 2: b"GGGGG"}

    def load(c, start, stop):
        return None if c not in cols else np.frombuffer(cols[c], dtype=np.uint8)[start:stop]

    assert list(tiles.tile_reads(5, 3, load, [])) == [b"ANG", b"CNG", b"GNG", b"TNG", b"ANG"]
    assert list(tiles.tile_reads(0, 3, load, [])) == []
