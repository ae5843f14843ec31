"""A ring buffer's files replayed as the one capture they are.

dumpcap's ring buffer (``-b filesize:``, the network tap's ``--ring``) names its files
``STEM_NNNNN_YYYYmmddHHMMSS.pcapng`` and closes one before it opens the next, so a connection (and
its TLS session) runs on across files: its handshake in one, its data in the next.  Decrypting file
by file would miss every session whose handshake is in an earlier file, so the files of one ring are
one source: read in order, frames numbered on across them as tshark numbers the concatenated
sections, and TLS decrypted on across them (``tls_keys``), with the key logs every file carries.
``locate`` turns a frame number back into the file and its frame there, where a report points a
reviewer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from sandbox.captures import Capture, open_capture
from sandbox.captures.pcapng import scan_secrets
from sandbox.model import NotExamined, Segment
from sandbox.session import CaptureSource, SourceHealth

RING_NAME = re.compile(r"^(?P<stem>.+)_(?P<number>\d{5,})_(?P<time>\d{14})\.pcapng$")


def ring_files(folder: Path, stem: str) -> list[Path]:
    """The ring's files in ``folder`` in dumpcap's order (by their number)."""
    found = [(int(m.group("number")), p) for p in Path(folder).glob(f"{glob_escape(stem)}_*.pcapng")
             if (m := RING_NAME.match(p.name)) and m.group("stem") == stem]
    return [p for _, p in sorted(found)]


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def ring_name(folder: Path, stem: str) -> str:
    """How a ring is named in reports and on the dashboard, live and in replay alike."""
    return str(Path(folder) / f"{stem}_*.pcapng")


def ring_members(path: Path) -> list[Path]:
    """The files a capture name stands for: a ring's (``ring_name``) in order, else the one file."""
    if path.name.endswith("_*.pcapng"):
        return ring_files(path.parent, path.name[: -len("_*.pcapng")]) or [path]
    return [path]


def ring_number(path: Path) -> int:
    """dumpcap's number of a ring file (``STEM_NNNNN_TIME.pcapng``); ValueError for any other name."""
    match = RING_NAME.match(Path(path).name)
    if match is None:
        raise ValueError(f"{Path(path).name} is not a ring file")
    return int(match.group("number"))


def group_rings(paths: Sequence[Path]) -> list[list[Path]]:
    """``paths`` with the files of each ring gathered where its first one stood, in ring order."""
    groups: dict[tuple[Path, str] | int, list[Path]] = {}
    for i, path in enumerate(paths):
        m = RING_NAME.match(Path(path).name)
        key: tuple[Path, str] | int = (Path(path).parent, m.group("stem")) if m else i
        groups.setdefault(key, []).append(Path(path))
    return [sorted(set(g), key=ring_number) if isinstance(k, tuple) else g for k, g in groups.items()]


class RingReplaySource(CaptureSource):
    """A ``Source`` over a saved ring's files (see the module docstring)."""

    def __init__(self, paths: Sequence[Path], keylog: bytes = b"", channel: str = "",
                 errors: list[dict[str, str]] | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        self.captures: list[Capture] = []
        self.offsets: list[int] = []          # frames in the files before each one
        super().__init__(self.paths[0], keylog, channel=channel, errors=errors)
        self.name = ring_name(self.paths[0].parent, RING_NAME.match(self.paths[0].name).group("stem"))

    def _open(self) -> None:
        keys = b"\n".join([self.keylog, *(scan_secrets(p) for p in self.paths)])   # each file its own
        self._segments = self._decrypting(self._chained(), keys)

    def _chained(self) -> Iterator[Segment]:
        offset = 0
        for path in self.paths:
            cap = open_capture(path)
            self.captures.append(cap)
            self.offsets.append(offset)
            for seg in cap:
                seg.frame += offset
                yield seg
            offset += cap.stats.packets

    def locate(self, frame: int) -> tuple[str, int]:
        """The file a (ring-wide) frame number is in, and its number there."""
        i = max((i for i, off in enumerate(self.offsets) if off < frame), default=0)
        return str(self.paths[i]), frame - (self.offsets[i] if self.offsets else 0)

    @property
    def channel(self) -> str:
        counts: dict[str, int] = {}
        for cap in self.captures:
            for ch, n in cap.stats.channels.items():
                counts[ch] = counts.get(ch, 0) + n
        return self._channel or (max(counts, key=counts.get) if counts else "net")

    @property
    def position(self) -> int:
        done = sum(p.stat().st_size for p in self.paths[:max(0, len(self.captures) - 1)])
        return done + (self.captures[-1].position if self.captures else 0)

    def health(self) -> SourceHealth:
        h = SourceHealth(self.name, self.channel, state="done" if self.done else "running")
        for cap in self.captures:
            h.packets += cap.stats.packets
            h.bytes += cap.stats.bytes
            h.drops += cap.stats.drops
            h.errors += [f"{Path(cap.path).name}: {e}" for e in cap.errors]
        return h

    def not_examined(self) -> list[NotExamined]:
        return [n for cap in self.captures for n in cap.stats.not_examined(str(cap.path))] + self._not_decrypted()

    def capture_errors(self) -> list[str]:
        return [e for cap in self.captures for e in cap.errors]

    def close(self) -> None:
        for cap in self.captures:
            cap.close()
