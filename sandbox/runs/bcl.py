"""Illumina BCL (per-cycle, per-tile base calls), plain and .bcl.gz (HiSeq, MiSeq, NextSeq 500)."""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np
from isal import igzip

from .base import RunFileError
from .tiles import BCL_LUT, CycleFile, cycle_files, cycle_of, first_cycle, tile_reads

_NAME = re.compile(r"\.bcl(?:\.gz|\.bgzf)?$")
_NEXTSEQ = re.compile(r"^(\d{4})(\.bcl(?:\.bgzf|\.gz)?)$")
HEADER = struct.Struct("<I")  # cluster count, then one byte per cluster


class BclFile(CycleFile):
    kind = "bcl"
    platform: ClassVar[str] = "illumina"

    name_pattern = _NAME

    @property
    def gz(self) -> bool:
        return not self.path.name.endswith(".bcl")

    def _open(self, path: Path) -> BinaryIO:
        return igzip.open(path, "rb") if not path.name.endswith(".bcl") else open(path, "rb")

    def decoded(self) -> Iterator[bytes]:
        if self.gz:
            with self._open(self.path) as fh:
                while block := fh.read(1 << 20):
                    yield block

    def clusters(self, path: Path | None = None) -> int:
        with self._open(path or self.path) as fh:
            head = fh.read(4)
        if len(head) < 4:
            raise RunFileError("BCL shorter than its 4-byte header")
        return HEADER.unpack(head)[0]

    def cycles(self) -> dict[int, Path]:
        """This tile's file per cycle when this file is the tile's first cycle, else {} (others yield
        no reads, so each cluster's read comes out once). Layouts: L001/C<n>.1/s_1_<tile>.bcl[.gz] and
        NextSeq 500/550's per-lane L001/<nnnn>.bcl.bgzf."""
        if m := _NEXTSEQ.match(self.path.name):
            cycle = int(m.group(1))
            if cycle > 1 and (self.path.parent / f"{cycle - 1:04d}{m.group(2)}").is_file():
                return {}
            files = {int(p.name[:4]): p for p in self.path.parent.iterdir() if _NEXTSEQ.match(p.name)}
            return files if cycle == min(files) else {}
        base = self.path.name.removesuffix(".gz")
        names = tuple(dict.fromkeys((self.path.name, base, base + ".gz")))
        if not first_cycle(self.path, names):
            return {}
        files = cycle_files(self.path, names)
        return files if files and cycle_of(self.path) == min(files) else {}

    def reads(self) -> Iterator[bytes]:
        """Per-cluster sequences across every cycle of this tile (or NextSeq lane); every cycle file is
        read once, sequentially, one cluster block at a time, so memory stays at MAX_MATRIX."""
        cycles = self.cycles()
        if not cycles:
            return
        first = min(cycles)
        n = self.clusters()
        with contextlib.ExitStack() as stack:
            handles: dict[int, BinaryIO] = {}

            def load(c: int, start: int, stop: int) -> np.ndarray | None:
                path = cycles.get(first + c)
                if path is None:
                    return None
                if c not in handles:
                    handles[c] = stack.enter_context(self._open(path))
                    handles[c].read(HEADER.size)
                arr = np.frombuffer(handles[c].read(stop - start), dtype=np.uint8)
                if c == 0 and len(arr) < stop - start:
                    raise RunFileError(f"BCL header says {n} clusters, data ends at cluster {start + len(arr)}")
                return BCL_LUT[arr]

            yield from tile_reads(n, max(cycles) - first + 1, load, self.read_cycles)

    def check(self) -> None:
        if not self.gz and self.clusters() != self.size - HEADER.size:
            raise RunFileError(f"BCL header says {self.clusters()} clusters, file holds {self.size - HEADER.size}")

