"""``sandbox replay --cluster``: an archive of captures replayed on Dask distributed workers.

The coordinator (this process) builds the run indexes once, into the rig's index cache, which the
workers load from (once per worker process).  Capture groups (``groups``) are probed for where they
start, replayed one per task, checked for independence and merged (``merge``); groups found to
share state are joined and replayed again as one.  The report is the one a single-process replay
of the same captures gives.

``local[:N]`` starts a LocalCluster of N worker processes (one thread each: the Engine is one
thread) on loopback; ``tcp://HOST:PORT`` uses a running scheduler, whose workers must see the
captures, the run folders and the index cache at the same absolute paths.  Dask is an optional
dependency (``pip install 'instrument-traffic-sandbox[fleet]'``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.archive.groups import CaptureGroup, expand, group_captures, probe_start
from sandbox.archive.merge import Merged, dependence, merge
from sandbox.archive.worker import GroupResult, GroupTask, ReplaySettings, run_group, source_name
from sandbox.report.profile import Profile
from sandbox.ring import group_rings
from sandbox.session import SessionResult, instrument_names, run_row
from sandbox.store import Store, StoreError

CLUSTER_SPEC = re.compile(r"^(?:local(?::(?P<workers>\d+))?|(?P<address>tcp://[^\s/]+:\d+))$")
MAX_LOCAL_WORKERS = 256  # more worker processes than this on one host is a typo, not a plan
CONNECT_TIMEOUT_S = 10  # a scheduler that does not answer in this long is not there (or not ours)
# Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which also turns off glibc's adaptive
# mmap threshold: every large numpy temporary is then mapped and unmapped, and a replay runs ~40%
# slower (benchmarks/archive_scaling.py). Our workers keep glibc's defaults.
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
HEARTBEAT_S = 2.0  # the store hears from a replay this often while groups run (as a Session flushes)


class ClusterError(Exception):
    """The cluster cannot be used (bad spec, scheduler unreachable, Dask not installed): exit 2."""


@dataclass(frozen=True)
class ClusterSpec:
    workers: int | None = None      # local
    address: str | None = None      # tcp://HOST:PORT

    def __str__(self) -> str:
        return self.address or f"local:{self.workers}"


def parse_cluster(text: str) -> ClusterSpec:
    m = CLUSTER_SPEC.match(text.strip())
    if not m:
        raise ClusterError(f"--cluster {text!r}: expected local, local:N or tcp://HOST:PORT")
    if m["address"]:
        return ClusterSpec(address=m["address"])
    workers = int(m["workers"]) if m["workers"] else (os.cpu_count() or 1)
    if not 1 <= workers <= MAX_LOCAL_WORKERS:
        raise ClusterError(f"--cluster {text!r}: between 1 and {MAX_LOCAL_WORKERS} local workers")
    return ClusterSpec(workers=workers)


@contextmanager
def connect(spec: ClusterSpec) -> Iterator[Any]:
    """A Dask client on the cluster the spec names (a local one is started and stopped here)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install 'instrument-traffic-sandbox[fleet]'") from None
    if spec.address:
        try:
            client = Client(spec.address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {spec.address}: {exc}") from None
        with client:
            yield client
        return
    import dask

    with dask.config.set(WORKER_CONFIG), \
            LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                         scheduler_port=0, dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


@dataclass
class ArchiveStats:
    """How the archive was replayed (printed, and kept by the benchmark)."""

    cluster: str
    workers: int
    groups: int
    runs: int                       # group replays, reruns of joined groups included
    rounds: int
    reasons: list[str] = field(default_factory=list)
    worker_loads: dict[str, int] = field(default_factory=dict)   # index loads per worker process
    group_seconds: list[float] = field(default_factory=list)
    group_cpu_seconds: list[float] = field(default_factory=list)
    group_bytes: list[int] = field(default_factory=list)
    connect_seconds: float = 0.0    # starting (or reaching) the cluster
    wall_seconds: float = 0.0


@dataclass
class ArchiveResult(SessionResult):
    stats: ArchiveStats | None = None


def _tasks(groups: list[CaptureGroup], starts: list[float], settings: ReplaySettings) -> list[GroupTask]:
    """Tasks for groups in capture-time order, each told where the next one starts."""
    order = sorted(range(len(groups)), key=lambda i: (starts[i], groups[i].ranks[0]))
    tasks = []
    for place, i in enumerate(order):
        later = [starts[j] for j in order[place + 1:] if math.isfinite(starts[j])]
        tasks.append(GroupTask(groups[i], starts[i], later[0] if later else None, settings))
    return tasks


def replay_archive(archives: Sequence[Path], runs: Sequence[Path], *, cluster: str, keylog: Path | None = None,
                   allow: Sequence[str] = (), instrument: Sequence[str] | None = None, store: Store | None = None,
                   cache_dir: Path | None = None, progress: Callable[[int], None] | None = None,
                   index_progress: bool = False, profile: Profile | None = None) -> ArchiveResult:
    """Replay every capture of the archives on a Dask cluster; the result a single replay gives.

    ``allow`` (the command line's) and the ``profile``'s destinations make one allow-list."""
    from sandbox.index import build_index
    from sandbox.replay import check_capture, check_run, replay_inputs

    started = time.perf_counter()
    spec = parse_cluster(cluster)
    profile = (profile or Profile()).with_cli_allowed(allow)
    captures = expand(list(archives))
    for path in captures:
        check_capture(path)
    indexes = [build_index(run, cache_dir=cache_dir, progress=index_progress) for run in runs]
    for index in indexes:
        check_run(index)
    settings = ReplaySettings(
        runs=tuple(str(Path(r).resolve()) for r in runs), cache_dir=str(Path(cache_dir).resolve()) if cache_dir else None,
        keylog=keylog.read_bytes() if keylog else b"", allow=tuple(profile.allow_list),
        instrument=tuple(instrument) if instrument else None, merge=len(captures) > 1)
    writer = _StoreWriter(store)
    writer.begin(indexes, [str(c) for c in captures], str(spec), profile, replay_inputs(keylog, instrument))
    groups = group_captures(captures)
    stats = ArchiveStats(str(spec), 0, len(groups), 0, 0)
    connecting = time.perf_counter()
    with connect(spec) as client:
        stats.connect_seconds = time.perf_counter() - connecting
        stats.workers = len(client.scheduler_info().get("workers", {}))
        starts = client.gather(client.map(probe_start, groups, pure=False))
        done: dict[CaptureGroup, GroupResult] = {}
        position = 0
        while True:
            stats.rounds += 1
            tasks = {t.group: t for t in _tasks(groups, starts, settings)}     # capture-time order
            todo = [t for g, t in tasks.items() if g not in done or done[g].task != t]
            for result in _run(client, todo, writer):
                done[result.task.group] = result
                stats.runs += 1
                position += result.bytes
                if progress is not None:
                    progress(position)
            results = [done[g] for g in tasks]
            dep = dependence(results)
            if dep.independent:
                break
            stats.reasons.extend(dep.reasons)
            groups, starts = _join(results, dep.together)
    for r in results:
        stats.worker_loads[r.worker] = max(stats.worker_loads.get(r.worker, 0), r.index_loads)
        stats.group_seconds.append(r.seconds)
        stats.group_cpu_seconds.append(r.cpu_seconds)
        stats.group_bytes.append(r.bytes)
    facts = {"mode": "replay", "live": False, "state": "finished", "started": writer.started, "finished": time.time()}
    names = [source_name([str(f) for f in files]) for files in group_rings(captures)]   # one replay's sources
    merged = merge(results, indexes, profile, names, facts)
    writer.end(merged, facts["finished"])
    stats.wall_seconds = time.perf_counter() - started
    return ArchiveResult(merged.findings, merged.report, merged.errors, writer.error, stats=stats)


def _join(results: list[GroupResult], together: list[list[int]]) -> tuple[list[CaptureGroup], list[float]]:
    """Groups (in capture-time order) with each dependent set joined, and every group between its
    members with it: a joined group spans one stretch of capture time, so flows are still named,
    and cross-flow findings merged, in the order one replay meets them.  Returns the groups and
    their starts."""
    spans = sorted((s[0], s[-1]) for s in together if len(s) > 1)
    stretches: list[list[int]] = []
    for lo, hi in spans:
        if stretches and lo <= stretches[-1][1]:
            stretches[-1][1] = max(stretches[-1][1], hi)
        else:
            stretches.append([lo, hi])
    groups, starts = [], []
    i = 0
    while i < len(results):
        stretch = next((s for s in stretches if s[0] == i), None)
        hi = stretch[1] if stretch else i
        group = results[i].task.group
        for j in range(i + 1, hi + 1):
            group = group.joined(results[j].task.group)
        groups.append(group)
        starts.append(min(results[j].task.start for j in range(i, hi + 1)))
        i = hi + 1
    return groups, starts


def _run(client: Any, tasks: list[GroupTask], writer: _StoreWriter) -> Iterator[GroupResult]:
    """Results as groups finish (the store hears a heartbeat meanwhile)."""
    from distributed import as_completed

    futures = client.map(run_group, tasks, pure=False)
    pending = as_completed(futures, with_results=True)
    finished = 0
    last = time.monotonic()
    for _future, result in pending:
        finished += 1
        if time.monotonic() - last >= HEARTBEAT_S:
            writer.heartbeat(finished, len(tasks))
            last = time.monotonic()
        yield result


class _StoreWriter:
    """The archive replay's store rows; when the store cannot be written the replay goes on without
    it and says so at the end (as a Session does)."""

    def __init__(self, store: Store | None):
        self.store = store
        self.error: str | None = None
        self.started = time.time()

    def _write(self, write: Callable[[Store], None]) -> None:
        if self.store is None:
            return
        try:
            write(self.store)
        except StoreError as exc:
            self.error, self.store = str(exc), None

    def begin(self, indexes: list, captures: list[str], cluster: str, profile: Profile,
              inputs: dict[str, Any]) -> None:
        rows = [run_row(ix) for ix in indexes]

        def begin(store: Store) -> None:
            if not store.tags().get("instrument"):
                store.tag(instrument=instrument_names(indexes))
            store.set_session(mode="replay", started=self.started, runs=[r["run_id"] for r in rows],
                              captures=captures, finished=None, pid=os.getpid(), heartbeat=self.started,
                              live=False, cluster=cluster, profile=profile.stored(), run_rows=rows, inputs=inputs)
            for ix, row in zip(indexes, rows, strict=True):
                store.add_run(row["run_id"], row["path"], ix.platform, row["samples"], len(ix.files), ix.total_bytes)

        self._write(begin)

    def heartbeat(self, finished: int, total: int) -> None:
        self._write(lambda store: store.set_session(heartbeat=time.time(), groups_done=finished, groups=total))

    def end(self, merged: Merged, finished: float) -> None:
        """What a Session writes at its end (``Session._end``), for the merged replay."""
        def end(store: Store) -> None:
            for row in merged.captures:
                store.put_capture(*row)
            store.put_findings(merged.findings)
            store.add_traffic(merged.traffic)
            store.put_flows(merged.flows, allowed=merged.allowed, replace=True)
            store.put_locations(merged.locations)
            report = merged.report
            store.set_session(finished=finished, verdict=report["verdict"], not_examined=merged.not_examined,
                              profile_not_examined=merged.profile_not_examined, errors=report["errors"],
                              notes=report["notes"], lag_bytes=0)

        self._write(end)
