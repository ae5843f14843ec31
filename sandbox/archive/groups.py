"""Which captures of an archive must be replayed together: a capture group.

Flows span the files of a ring buffer (dumpcap's ``PREFIX_NNNNN_YYYYMMDDHHMMSS.pcapng``), so those
of one prefix in one folder are one group (merged in capture-time order, as any replay merges its
captures).  Any other capture is a group of its own:
whether two groups really share nothing is checked after they ran (``sandbox.archive.merge``), and
groups that do are replayed together.  A folder given as an archive means the captures directly
in it (not its subfolders: a live session's ``feed/`` repeats what its raw recording holds).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from sandbox.captures import open_capture

# dumpcap -b ring buffer names: prefix, 5-digit file number, start time.
RING_NAME = re.compile(r"^(?P<prefix>.+)_(?P<number>\d{5})_(?P<stamp>\d{14})(?P<ext>\.pcapng|\.pcap)(\.gz)?$")
CAPTURE_SUFFIXES = (".pcapng", ".pcap", ".pcapng.gz", ".pcap.gz", ".cap", ".cap.gz")
# Segments of each capture looked at to find where a group starts: what a replay's merge of its
# sources releases first (sandbox.session.POLL_BATCH; a capture whose timestamps go backwards
# further than this is caught after the run, as a group that did not start where it was probed).
PROBE_SEGMENTS = 2000


@dataclass(frozen=True)
class CaptureGroup:
    """Captures replayed by one Engine, in order: ``captures`` are their paths (absolute: workers may
    run elsewhere), ``names`` what the archive list called them (the report's names), ``ranks``
    their places in that list (a single-process replay breaks capture-time ties by that order)."""

    captures: tuple[Path, ...]
    names: tuple[str, ...]
    ranks: tuple[int, ...]

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.captures)

    def joined(self, other: CaptureGroup) -> CaptureGroup:
        """One group of both, in archive order."""
        items = sorted(set(zip(self.ranks, self.captures, self.names, strict=True))
                       | set(zip(other.ranks, other.captures, other.names, strict=True)))
        return CaptureGroup(tuple(p for _, p, _ in items), tuple(n for _, _, n in items), tuple(r for r, _, _ in items))


def expand(archives: list[Path]) -> list[Path]:
    """Capture files of the archives given: files as they are, folders as the captures in them."""
    out: list[Path] = []
    for path in archives:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES)))
        else:
            out.append(path)
    return out


def group_captures(captures: list[Path]) -> list[CaptureGroup]:
    """Ring-buffer files of one prefix and folder together, every other capture alone; groups and
    the captures in them in archive order (ties in capture time go by it, as in one replay)."""
    rings: dict[tuple[Path, str], list[tuple[int, Path]]] = {}
    alone: list[tuple[int, Path]] = []
    for rank, path in enumerate(captures):
        m = RING_NAME.match(path.name)
        if m:
            rings.setdefault((path.parent.resolve(), m["prefix"]), []).append((rank, path))
        else:
            alone.append((rank, path))
    groups = [sorted(files) for files in rings.values()] + [[item] for item in alone]
    groups.sort(key=lambda files: files[0][0])
    return [CaptureGroup(tuple(p.resolve() for _, p in files), tuple(str(p) for _, p in files),
                         tuple(rank for rank, _ in files)) for files in groups]


def probe_start(group: CaptureGroup) -> float:
    """The capture time of the first Segment a replay of the group feeds its Engine (inf if none):
    the earliest of each capture's first PROBE_SEGMENTS."""
    start = math.inf
    for path in group.captures:
        capture = open_capture(path)
        try:
            for n, seg in enumerate(capture):
                if seg is None or n >= PROBE_SEGMENTS:
                    break
                start = min(start, seg.t)
        finally:
            capture.close()
    return start
