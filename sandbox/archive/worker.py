"""One capture group replayed on a worker: the Engine a single replay would run over these captures,
stopped where the single replay would move on to the next group, and its state handed back.

What comes back is the correlator's accumulators (not findings: those are computed once, after
the merge), the flows, the timeline, what was not examined, and what the merge needs to check that
this group shared nothing with the others (its time span, its DNS zones, open claims, the addresses
its DNS answers vouched for).
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.analyzer import Analyzer
from sandbox.archive.groups import CaptureGroup
from sandbox.correlate.opaque import OpaqueBook
from sandbox.engine import Engine
from sandbox.index import build_index
from sandbox.model import FlowInfo, NotExamined, Segment
from sandbox.protocols.context import CLAIMS
from sandbox.protocols.dns import TUNNEL_MIN_UNIQUE
from sandbox.protocols.follow import RESYNC_SITES
from sandbox.protocols.resolved import SHARED_KEY as RESOLVED
from sandbox.protocols.resolved import Resolutions
from sandbox.ring import RING_NAME as RING_FILE
from sandbox.ring import RingReplaySource, group_rings, ring_name
from sandbox.session import CaptureSource, Session, SessionResult, SourceHealth

DNS_ZONES = "dns.zones"  # the Dissector's shared DNS zone statistics (sandbox.protocols.dns.tracker)


@dataclass(frozen=True)
class ReplaySettings:
    """What every group of one archive replay shares (sent with each task: a few hundred bytes)."""

    runs: tuple[str, ...]
    cache_dir: str | None = None
    keylog: bytes = b""
    allow: tuple[str, ...] = ()
    instrument: tuple[str, ...] | None = None
    merge: bool = True          # the whole archive has several captures: a single replay merges them


@dataclass(frozen=True)
class GroupTask:
    group: CaptureGroup
    start: float                 # where the group was probed to start (capture time)
    next_start: float | None     # where the next group in capture time starts (None: this is the last)
    settings: ReplaySettings


@dataclass(frozen=True)
class ZoneState:
    """A DNS zone's statistics, as much as the merge needs: ``seen`` (name hashes) only while the
    zone is below the tunnel threshold (above it the zone counts anyway)."""

    unique: int
    encoded: int
    seen: frozenset | None


@dataclass
class GroupResult:
    task: GroupTask
    t_first: float               # capture time of the first and last Segment fed
    t_last: float
    accs: dict[tuple, Any]       # the correlator's accumulators, by finding key
    flows: list[FlowInfo]        # in the order the flow table made them
    traffic: list[tuple[float, str, str, int]]
    health: list[SourceHealth]   # per capture of the group, in its order
    source_blind: list[list[NotExamined]]
    engine_blind: list[NotExamined]
    run_errors: list[dict[str, str]]   # what failed while reading (TLS decryption), per capture
    notes: list[str]
    zones: dict[Any, ZoneState] | None  # None: a zone table this code does not know how to read
    claims: list[tuple[str, int]]       # endpoints claimed for a connection that never came
    other_state: list[str]              # other shared state this code does not know: never independent
                                        # (sites whose deflate streams other flows resync from are known:
                                        # their marks last less than the gap that makes groups independent)
    answered: list[str] | None          # addresses its DNS answers vouched names for (None: it let some go)
    first_out: dict[str, tuple[str, int]]   # flow -> (capture name, frame) of its first outbound bytes
    source_names: list[str]             # the group's sources (a ring's files are one), as the report names them
    opaque: OpaqueBook = field(default_factory=OpaqueBook)   # the correlator's opaque volume per flow and destination
    worker: str = ""
    index_loads: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0     # of the thread that ran the group (the Engine is one thread)
    bytes: int = 0
    segments: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


# Run indexes of this worker process, loaded once and kept for every group it replays (the arrays
# are memory-mapped from the rig's index cache: the workers of one host share their pages).
_INDEXES: dict[tuple, list] = {}
_LOADS = 0
_LOCK = threading.Lock()


def _indexes(settings: ReplaySettings) -> tuple[list, int]:
    global _LOADS
    key = (settings.runs, settings.cache_dir)
    with _LOCK:
        if key not in _INDEXES:
            _INDEXES.clear()     # one archive replay at a time per worker: keep only its indexes
            cache = Path(settings.cache_dir) if settings.cache_dir else None
            _INDEXES[key] = [build_index(Path(run), cache_dir=cache) for run in settings.runs]
            _LOADS += 1
        return _INDEXES[key], _LOADS


class _Timed:
    """A source that notes the capture times of the Segments it hands over."""

    def __init__(self, source: CaptureSource):
        self.source = source
        self.t_first = math.inf
        self.t_last = -math.inf
        self.segments = 0

    def poll(self, limit: int) -> list[Segment]:
        batch = self.source.poll(limit)
        if batch:
            times = [s.t for s in batch]
            self.t_first = min(self.t_first, *times)
            self.t_last = max(self.t_last, *times)
            self.segments += len(batch)
        return batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)


class _GroupSession(Session):
    """A Session that, at the end of its group, lets the clock run on to where the next group starts
    (what the single replay's next Segment does first: idle flows flushed and closed, flows judged)."""

    def __init__(self, *args: Any, next_start: float | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.next_start = next_start
        self.final: tuple[list[SourceHealth], list[list[NotExamined]], list[dict[str, str]]] | None = None

    def _end(self, sources: Any) -> SessionResult:
        if self.next_start is not None and math.isfinite(self.next_start):
            self.engine.tick(self.next_start)
        self.final = ([s.health() for s in sources], [s.not_examined() for s in sources], list(self.errors))
        return super()._end(sources)


def run_group(task: GroupTask) -> GroupResult:
    """Replay one capture group (a Dask task; also runs in-process)."""
    started, cpu = time.perf_counter(), time.thread_time()
    settings = task.settings
    indexes, loads = _indexes(settings)
    analyzer = Analyzer(indexes, settings.allow)
    engine = Engine(indexes, allow=settings.allow, instrument=settings.instrument, analyzer=analyzer)
    errors: list[dict[str, str]] = []
    session = _GroupSession(engine, indexes, mode="replay", errors=errors, merge=settings.merge,
                            next_start=task.next_start)
    sources = []
    named = {Path(p): n for p, n in zip(task.group.captures, task.group.names, strict=True)}
    for files in group_rings(list(task.group.captures)):     # a ring's files are one source, as in one replay
        source = (RingReplaySource(files, settings.keylog, errors=errors) if len(files) > 1
                  else CaptureSource(files[0], settings.keylog, errors=errors))
        source.name = source_name([named[f] for f in files])   # the report names captures as one replay does
        sources.append(_Timed(source))
    session.run(sources)
    health, source_blind, run_errors = session.final
    source_blind = [[{**n, "where": named.get(Path(n["where"]), n["where"])} for n in blind] for blind in source_blind]
    shared = engine.dissector.shared
    return GroupResult(
        task=task, t_first=min((s.t_first for s in sources), default=math.inf),
        t_last=max((s.t_last for s in sources), default=-math.inf),
        accs=dict(analyzer.correlator._acc), flows=engine.flows, traffic=engine.take_traffic(), health=health,
        source_blind=source_blind, engine_blind=list(engine.not_examined), run_errors=run_errors,
        notes=list(engine.notes), zones=zone_states(shared.get(DNS_ZONES)), claims=list(shared.get(CLAIMS) or ()),
        other_state=[k for k, v in shared.items() if k not in (DNS_ZONES, CLAIMS, RESOLVED, RESYNC_SITES) and v],
        answered=_answered(shared.get(RESOLVED)),
        first_out={flow: _where(sources[rank], frame, named) for flow, (rank, frame) in engine.first_out.items()},
        source_names=[s.name for s in sources], opaque=analyzer.correlator.opaque,
        worker=f"{socket.gethostname()}:{os.getpid()}", index_loads=loads,
        seconds=time.perf_counter() - started, cpu_seconds=time.thread_time() - cpu, bytes=task.group.bytes,
        segments=sum(s.segments for s in sources))


def _answered(book: Resolutions | None) -> list[str] | None:
    if book is None:
        return []
    return None if book.overflowed else book.addresses()


def source_name(names: list[str]) -> str:
    """A source's name in the report: the capture's, or a ring's (its files replayed as one)."""
    if len(names) == 1:
        return names[0]
    first = Path(names[0])
    return ring_name(first.parent, RING_FILE.match(first.name).group("stem"))


def _where(source: Any, frame: int, named: dict[Path, str]) -> tuple[str, int]:
    """The capture (as the archive named it) and frame there of a source's frame (a ring's are numbered
    across its files)."""
    if frame > 0 and hasattr(source, "locate"):
        path, frame = source.locate(frame)
        return named.get(Path(path), path), frame
    return source.name, frame


def zone_states(tracker: Any) -> dict[Any, ZoneState] | None:
    """The zones of a DNS zone tracker, or None when it is not the shape this code reads (the merge
    then treats every group with DNS as sharing state: replayed together, still exact)."""
    if tracker is None:
        return {}
    zones = getattr(tracker, "zones", None)
    if not isinstance(zones, dict):
        return None
    out = {}
    for key, z in zones.items():
        unique, encoded, seen = (getattr(z, a, None) for a in ("unique", "encoded_names", "seen"))
        if not isinstance(unique, int) or not isinstance(encoded, int) or not isinstance(seen, set):
            return None
        out[key] = ZoneState(unique, encoded, frozenset(seen) if unique < TUNNEL_MIN_UNIQUE else None)
    return out
