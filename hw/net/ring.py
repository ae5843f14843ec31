"""Following dumpcap's ring buffer (``-b filesize:``): one live source over its files in turn.

dumpcap names them ``STEM_NNNNN_YYYYmmddHHMMSS.pcapng`` and closes a file before it opens the next,
so once a newer file exists the current one is complete: it is read to its end, then the next is
followed.  A session of days then keeps each file at a bounded size (and, with a file count, the
disk bounded: dumpcap deletes the oldest, so analysis must keep up within the ring's span).  Frames
are numbered on across the files, as ``sandbox replay`` of the ring numbers them (``sandbox.ring``),
so live and replay point at the same file and frame.
"""

from __future__ import annotations

import math
from pathlib import Path

from sandbox.model import NotExamined, Segment
from sandbox.ring import ring_files, ring_name
from sandbox.session import WRITER_DELAY_S, CaptureSource, SourceHealth


class RingSource:
    """A ``Source`` over a ring buffer dumpcap is writing; see the module docstring."""

    def __init__(self, folder: Path, stem: str, channel: str = "net") -> None:
        self.folder, self.stem = Path(folder), stem
        self.name = ring_name(self.folder, stem)
        self.channel = channel
        self.done = False
        self.current: CaptureSource | None = None
        self.read: list[Path] = []
        self.offsets: list[int] = []          # frames in the files before each one
        self._frames = 0
        self._finished = SourceHealth(self.name, channel)
        self._blind: list[NotExamined] = []
        self._finishing = False
        self._last_t = -math.inf

    def _next(self) -> Path | None:
        files = [p for p in ring_files(self.folder, self.stem) if p not in self.read]
        return files[0] if files else None

    def poll(self, limit: int) -> list[Segment]:
        if self.done:
            return []
        if self.current is None:
            path = self._next()
            if path is None:
                self.done = self._finishing
                return []
            self.current = CaptureSource(path, follow=True, channel=self.channel)
            self.read.append(path)
            self.offsets.append(self._frames)
        out = self.current.poll(limit)
        if not out and not self.current.done and (self._next() is not None or self._finishing):
            self.current.finish()       # a newer file exists: dumpcap closed this one
            out = self.current.poll(limit)
        offset = self.offsets[-1]
        if offset:
            for seg in out:
                seg.frame += offset
        if self.current.done:
            self._retire()
        if out:
            self._last_t = max(self._last_t, out[-1].t)
        return out

    def _retire(self) -> None:
        cur = self.current
        assert cur is not None
        h = cur.health()
        f = self._finished
        f.packets, f.bytes, f.drops = f.packets + h.packets, f.bytes + h.bytes, f.drops + h.drops
        self._frames += h.packets
        f.errors.extend(h.errors)
        self._blind.extend(cur.not_examined())
        cur.close()
        self.current = None

    def locate(self, frame: int) -> tuple[str, int]:
        """The file a (ring-wide) frame number is in, and its number there."""
        i = max((i for i, off in enumerate(self.offsets) if off < frame), default=0)
        return (str(self.read[i]), frame - self.offsets[i]) if self.read else (self.name, frame)

    def watermark(self, now: float) -> float:
        if self.done:
            return math.inf
        if self.current is not None:
            return self.current.watermark(now)
        return max(self._last_t, now - WRITER_DELAY_S)

    def finish(self) -> None:
        self._finishing = True

    def health(self) -> SourceHealth:
        f = self._finished
        h = self.current.health() if self.current is not None else SourceHealth(self.name, self.channel)
        return SourceHealth(self.name, self.channel, f.packets + h.packets, f.bytes + h.bytes, f.drops + h.drops,
                            f.errors + h.errors, h.lag_bytes, "done" if self.done else "running")

    def not_examined(self) -> list[NotExamined]:
        return self._blind + (self.current.not_examined() if self.current is not None else [])

    @property
    def position(self) -> int:
        return self.current.position if self.current is not None else 0

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
