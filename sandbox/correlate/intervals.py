"""A bounded set of byte ranges: the union of what matched in one run file, per flow."""

from __future__ import annotations

import numpy as np

# Ranges kept per (flow, file, stream): past this the closest neighbours are joined (the union
# becomes a slight over-estimate) so a flow that leaks a file in tiny pieces cannot grow memory.
MAX_RANGES = 4096


class IntervalSet:
    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts = np.empty(0, dtype=np.int64)
        self.ends = np.empty(0, dtype=np.int64)

    def add(self, starts: np.ndarray, ends: np.ndarray) -> None:
        s = np.concatenate([self.starts, np.asarray(starts, dtype=np.int64)])
        e = np.concatenate([self.ends, np.asarray(ends, dtype=np.int64)])
        order = np.argsort(s, kind="stable")
        s, e = s[order], e[order]
        reach = np.maximum.accumulate(e)
        new = np.ones(len(s), dtype=bool)
        new[1:] = s[1:] > reach[:-1]
        groups = np.flatnonzero(new)
        self.starts = s[groups]
        self.ends = np.maximum.reduceat(e, groups) if len(groups) else e[:0]
        if len(self.starts) > MAX_RANGES:
            self._coarsen()

    def _coarsen(self) -> None:
        gaps = self.starts[1:] - self.ends[:-1]
        widest = np.argpartition(gaps, len(gaps) - MAX_RANGES // 2)[len(gaps) - MAX_RANGES // 2:]
        keep = np.zeros(len(self.starts), dtype=bool)
        keep[0] = True
        keep[widest + 1] = True  # keep the widest gaps open, join across the others
        idx = np.flatnonzero(keep)
        self.ends = np.maximum.reduceat(self.ends, idx)
        self.starts = self.starts[idx]

    def total(self) -> int:
        return int((self.ends - self.starts).sum())

    def __len__(self) -> int:
        return len(self.starts)
