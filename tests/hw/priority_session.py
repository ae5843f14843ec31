"""A stand-in live session for tests/hw/test_priority.py: this process plays the session, a child
spinning on the CPU plays the analysis worker.  Says each level as a JSON line; a line on stdin is
the session's end (stop).  ``python -m tests.hw.priority_session STARVED_S CALM_S [UID]``: with UID, the
session drops to that user first (no right to raise its priority again)."""

from __future__ import annotations

import json
import multiprocessing as mp
import multiprocessing.popen_fork  # noqa: F401 - imported before the session drops to another user
import os
import sys
import threading

from hw.priority import AnalysisPriority, Level


def spin(session: int) -> None:
    """Busy, until the session is gone (it may be killed: this process must not outlive it)."""
    while os.getppid() == session:
        for _ in range(100_000):
            pass


def say(**what) -> None:
    print(json.dumps(what), flush=True)


def main() -> None:
    starved_s, calm_s = float(sys.argv[1]), float(sys.argv[2])
    if len(sys.argv) > 3:
        os.setuid(int(sys.argv[3]))
    worker = mp.get_context("fork").Process(target=spin, args=(os.getpid(),), daemon=True)
    worker.start()
    stop = threading.Event()
    tap = threading.Thread(target=threading.Event().wait, daemon=True)    # a tap's, running before start
    tap.start()

    def changed(old: Level, new: Level, waited_s: float) -> None:
        say(old=old.name, new=new.name, waited_s=waited_s)

    priority = AnalysisPriority(worker.pid, starved_s=starved_s, calm_s=calm_s, on_change=changed)
    priority.start(stop)
    say(worker=worker.pid, tap=tap.native_id, level=priority.level.name, governed=priority.governed)
    sys.stdin.readline()
    stop.set()
    priority.close()
    say(level=priority.level.name)
    worker.kill()


if __name__ == "__main__":
    main()
