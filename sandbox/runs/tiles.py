"""Per-tile base-call matrices: cycles x clusters of ASCII bases, cut into per-cluster read sequences.

BCL and CBCL store one file per cycle; a read is one column across all cycle files. The first cycle's
file of each tile yields the tile's reads, in cluster blocks so memory stays bounded on big tiles.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .base import RunFile, RunMeta, lane_of, lane_samples

# Bytes of the cycles x clusters matrix held at once (a NovaSeq tile is ~4M clusters x 318 cycles
# = 1.3 GB; 128 MB keeps a reader well under a laptop's memory while needing few passes).
MAX_MATRIX = 128 << 20
# The read structure a hostile RunInfo.xml may not use to hide reads (``segments``): the index's k-mer
# length (``sandbox.index.kmers.K``: a shorter read gives it nothing), the longest a real index read is
# (i7/i5: 6-24 cycles), and the share of cycles an honest structure leaves in reads (over 90%).
K = 31
MAX_INDEX_READ = 25
MIN_TEMPLATE_SHARE = 0.8

_CYCLE_DIR = re.compile(r"^C(\d+)\.\d+$")

# BCL byte -> ASCII base: 2 low bits base, 0 byte = no-call N.
BCL_LUT = np.frombuffer(b"ACGT" * 64, dtype=np.uint8).copy()
BCL_LUT[0] = ord("N")


def cycle_of(path: Path) -> int:
    m = _CYCLE_DIR.match(path.parent.name)
    return int(m.group(1)) if m else 0


def first_cycle(path: Path, names: tuple[str, ...]) -> bool:
    """Cheap test whether no earlier cycle folder holds this tile's file (checks cycle - 1 only)."""
    cycle = cycle_of(path)
    if cycle <= 1:
        return cycle == 1
    prev = path.parent.parent / f"C{cycle - 1}.1"
    return not any((prev / n).is_file() for n in names)


def cycle_files(path: Path, names: tuple[str, ...]) -> dict[int, Path]:
    """This tile's file in every sibling cycle folder (``L001/C<n>.1/<name>``), keyed by cycle."""
    out: dict[int, Path] = {}
    lane_dir = path.parent.parent
    for d in lane_dir.iterdir():
        m = _CYCLE_DIR.match(d.name)
        if not m or not d.is_dir():
            continue
        for name in names:
            if (d / name).is_file():
                out.setdefault(int(m.group(1)), d / name)
                break
    return out


def segments(read_cycles: list[tuple[int, int, bool]], ncycles: int) -> list[tuple[int, int]]:
    """[start, stop) cycle ranges of the template (non-index) reads; all cycles without a RunInfo.

    RunInfo.xml is the instrument's word, and the instrument is the attacker: it could call its reads
    index reads, cut them into reads too short for a k-mer, or declare fewer cycles than it wrote, so
    that the index holds nothing of them.  So only reads a real index read could be (shorter than
    ``MAX_INDEX_READ``) are left out, cycles past the declared ones are a read of their own, and a
    structure that leaves under ``MIN_TEMPLATE_SHARE`` of the cycles in reads long enough for a k-mer
    is not believed: every cycle is then one read."""
    out, pos = [], 0
    for _, n, index in read_cycles:
        if pos < ncycles and n > 0 and not (index and n < MAX_INDEX_READ):
            out.append((pos, min(pos + n, ncycles)))
        pos += max(n, 0)
    if pos < ncycles:
        out.append((pos, ncycles))
    usable = sum(stop - start for start, stop in out if stop - start >= K)
    return out if out and usable >= MIN_TEMPLATE_SHARE * ncycles else [(0, ncycles)]


def tile_reads(
    nclusters: int,
    ncycles: int,
    load: Callable[[int, int, int], np.ndarray | None],
    read_cycles: list[tuple[int, int, bool]],
) -> Iterator[bytes]:
    """Sequences of a tile: ``load(cycle_index, start, stop)`` gives ASCII bases of clusters [start, stop)
    for that cycle (None for a missing cycle, read as N)."""
    if nclusters <= 0 or ncycles <= 0:
        return
    block = max(1, MAX_MATRIX // ncycles)
    segs = segments(read_cycles, ncycles)
    for start in range(0, nclusters, block):
        stop = min(nclusters, start + block)
        mat = np.full((stop - start, ncycles), ord("N"), dtype=np.uint8)
        for c in range(ncycles):
            col = load(c, start, stop)
            if col is not None:
                mat[: len(col), c] = col[: stop - start]
        flat = mat.tobytes()
        for i in range(stop - start):
            row = i * ncycles
            for a, b in segs:
                yield flat[row + a: row + b]


class CycleFile(RunFile):
    """A per-cycle base-call file of one lane (BCL, CBCL): claimed by its name, it belongs to
    every sample of its lane, and it learns the read structure so reads skip the index cycles."""

    name_pattern: re.Pattern[str]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_cycles: list[tuple[int, int, bool]] = []

    @classmethod
    def claim(cls, rel: str, head: bytes) -> bool:
        return bool(cls.name_pattern.search(rel))

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        self.read_cycles = meta.read_cycles
        return lane_samples(meta, lane_of(self.rel))
