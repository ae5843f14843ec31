"""Illumina per-tile side files: pass-filter flags (.filter) and cluster positions (.locs, .clocs)."""

from __future__ import annotations

import re
import struct
from typing import ClassVar

import numpy as np

from .base import RunFile, RunFileError, RunMeta, lane_of, lane_samples

FILTER_HEADER = struct.Struct("<III")  # 0, version, cluster count; then one 0/1 byte per cluster


class FilterFile(RunFile):
    """Pass-filter flags; no sequence, but every cluster of the lane's samples is listed."""

    kind = "filter"
    platform: ClassVar[str] = "illumina"

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return rel.endswith(".filter")

    def passing(self) -> np.ndarray:
        data = self.path.read_bytes()
        if len(data) < FILTER_HEADER.size:
            raise RunFileError("filter file shorter than its 12-byte header")
        _, _, n = FILTER_HEADER.unpack_from(data)
        if len(data) - FILTER_HEADER.size != n:
            raise RunFileError(f"filter header says {n} clusters, file holds {len(data) - FILTER_HEADER.size}")
        return np.frombuffer(data, dtype=np.uint8, offset=FILTER_HEADER.size) & 1

    def check(self) -> None:
        with open(self.path, "rb") as fh:
            check_filter_size(fh.read(FILTER_HEADER.size), self.size)

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return lane_samples(meta, lane_of(self.rel))


def check_filter_size(head: bytes, size: int) -> None:
    """Cheap scan-time check: header's cluster count against the file size."""
    if len(head) < FILTER_HEADER.size:
        raise RunFileError("filter file shorter than its 12-byte header")
    n = FILTER_HEADER.unpack_from(head)[2]
    if size - FILTER_HEADER.size != n:
        raise RunFileError(f"filter header says {n} clusters, file holds {size - FILTER_HEADER.size}")


class LocsFile(RunFile):
    """Cluster coordinates (.locs float pairs, .clocs binned); bytes only, samples of the lane."""

    kind = "locs"
    platform: ClassVar[str] = "illumina"

    @staticmethod
    def claim(rel: str, head: bytes) -> bool:
        return bool(re.search(r"\.c?locs$", rel))

    def assign_samples(self, meta: RunMeta) -> tuple[str, ...]:
        return lane_samples(meta, lane_of(self.rel))
