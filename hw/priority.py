"""Record first, never starved: the CPU share of a live session's analysis.

The taps (mitmproxy, dumpcap, serial bridges) keep their priority.  The analysis (the session's own
threads and its worker) runs in Linux's idle class while it keeps up, so a burst of traffic is
recorded at full speed and analysed just after.  But the idle class yields to *every* process: other
work on the bench machine (a build, a virtual machine, a package install) would hold the analysis
off for as long as it runs, findings would wait minutes and the session could not end.  So a
governor thread, at normal priority, reads how long the analysis waits for a CPU: when it has waited
most of ``starved_s``, the analysis takes a share (nice 10: about a tenth of a core against busy
taps, still far below them); calm again for ``calm_s``, it returns to the idle class.  Once the
session ends (the taps stopped, nothing left to record) the analysis finishes at normal priority.

Leaving the idle class and lowering a nice value need CAP_SYS_NICE (root) or a high enough
RLIMIT_NICE.  Without them, or without the kernel's per-task scheduler statistics, the analysis runs
at nice 10 from the start: never the idle class, which it could not leave.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path

SHARE_NICE = 10       # the analysis' nice value when it takes a share: below the taps' (0)
CHECK_S = 0.5         # how often the governor reads the waits
STARVED_S = 3.0       # waiting for a CPU this long (most of each check): take a share
CALM_S = 10.0         # not waiting this long while holding a share: back to the idle class
STARVED_FRACTION = 0.5  # a check counts as starved when a thread waited this much of it


class Level(Enum):
    IDLE = "idle class"
    SHARE = f"nice {SHARE_NICE}"
    NORMAL = "normal priority"


def can_raise_priority() -> bool:
    """Whether this process may leave the idle class and lower its nice value back to 0."""
    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_NICE)[0] >= 20


def run_queue_wait_ns(task: Path) -> int | None:
    """Nanoseconds ``task`` (/proc/PID/task/TID) has waited on a run queue; None when unknown."""
    try:
        return int((task / "schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None


class AnalysisPriority:
    """Sets and governs the scheduling of the analysis by the rule in the module docstring: the thread
    that calls ``start`` (the session's), the threads this process starts after it, and the worker
    process's threads (``worker``).  Threads already running then are the taps' (a key log's timeline,
    a judge for --block) and keep their priority, as the governor keeps its own."""

    def __init__(self, worker: int | None = None, *, starved_s: float = STARVED_S, calm_s: float = CALM_S,
                 on_change: Callable[[Level, Level, float], None] | None = None) -> None:
        """``on_change(old, new, waited_s)`` hears each change the governor makes (the operator is told)."""
        self.worker = worker
        self.starved_s, self.calm_s = starved_s, calm_s
        self.on_change = on_change
        self.level: Level | None = None     # set by start(), before the governor runs
        mine = Path(f"/proc/self/task/{threading.get_native_id()}")
        self.governed = can_raise_priority() and run_queue_wait_ns(mine) is not None
        self._governor: threading.Thread | None = None
        self._others: set[int] = set()    # this process's threads that are not the analysis
        self._done = threading.Event()

    # -- the tasks ------------------------------------------------------------------------------
    def tasks(self) -> list[Path]:
        """/proc entries of every thread of the analysis, as they are now (threads come and go)."""
        found: list[Path] = []
        for pid in ("self", self.worker) if self.worker is not None else ("self",):
            base = Path(f"/proc/{pid}/task")
            try:
                found += [base / tid for tid in os.listdir(base) if pid != "self" or int(tid) not in self._others]
            except OSError:
                continue        # the worker has ended
        return found

    def set(self, level: Level) -> None:
        """Every thread of the analysis to ``level`` (threads started later inherit it from theirs)."""
        for task in self.tasks():
            tid = int(task.name)
            try:
                if level is Level.IDLE:
                    os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
                else:
                    os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
                    os.setpriority(os.PRIO_PROCESS, tid, SHARE_NICE if level is Level.SHARE else 0)
            except (AttributeError, OSError):
                continue        # the thread has ended, or the system has no such class
        self.level = level

    # -- the session ----------------------------------------------------------------------------
    def start(self, stop: threading.Event) -> None:
        """The taps run: the analysis yields to them, governed until ``stop`` (then normal priority)."""
        me = threading.get_native_id()
        self._others = {int(tid) for tid in os.listdir("/proc/self/task")} - {me}
        if not self.governed:
            self.set(Level.SHARE)
            return
        idle = threading.Event()

        def govern() -> None:       # started before the analysis yields: it keeps this thread's priority
            idle.wait()
            self._govern(stop)

        self._governor = threading.Thread(target=govern, name="sandbox-priority", daemon=True)
        self._governor.start()
        self._others.add(self._governor.native_id)
        self.set(Level.IDLE)
        idle.set()

    def close(self) -> None:
        """Ends the governor (the session is over)."""
        self._done.set()
        if self._governor is not None:
            self._governor.join(timeout=5)

    def _govern(self, stop: threading.Event) -> None:
        waits: dict[Path, int] = {}
        starved = calm = 0.0
        last = time.monotonic()
        while True:
            closed = self._done.wait(CHECK_S)
            if stop.is_set():
                self._change(Level.NORMAL, starved)
                return
            if closed:
                return
            now = time.monotonic()
            interval, last = now - last, now
            worst = 0
            seen: dict[Path, int] = {}
            for task in self.tasks():
                wait = run_queue_wait_ns(task)
                if wait is not None:
                    seen[task] = wait
                    worst = max(worst, wait - waits.get(task, wait))
            waits = seen
            if worst >= STARVED_FRACTION * interval * 1e9:
                starved, calm = starved + interval, 0.0
            else:
                starved, calm = 0.0, calm + interval
            if self.level is Level.IDLE and starved >= self.starved_s:
                self._change(Level.SHARE, starved)
            elif self.level is Level.SHARE and calm >= self.calm_s:
                self._change(Level.IDLE, 0.0)

    def _change(self, level: Level, waited_s: float) -> None:
        old = self.level
        self.set(level)
        if self.on_change is not None and old is not level:
            self.on_change(old, level, waited_s)
