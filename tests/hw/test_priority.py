"""The analysis of a live session yields the CPU to the taps but is never starved by other work: in
the idle class while it keeps up, a share (nice 10) once other processes have held it off, the idle
class again when calm, normal priority once the session ends; without the right to raise priority
again, nice 10 from the start."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hw.priority import SHARE_NICE

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60     # a loaded 2-core machine; never a performance assertion


def session(*, user: int | None = None, starved_s: float = 1.0, calm_s: float = 1.0) -> subprocess.Popen:
    """The stand-in session; its lines are read as they come (``said``)."""
    as_user = [] if user is None else [str(user)]
    proc = subprocess.Popen([sys.executable, "-m", "tests.hw.priority_session", str(starved_s), str(calm_s),
                             *as_user], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.lines = queue.Queue()
    threading.Thread(target=lambda: [proc.lines.put(line) for line in proc.stdout] + [proc.lines.put("")],
                     daemon=True).start()
    return proc


def said(proc: subprocess.Popen) -> dict:
    try:
        line = proc.lines.get(timeout=WAIT_S)
    except queue.Empty:
        pytest.fail(f"the session said nothing for {WAIT_S} s")
    assert line, "the session ended early"
    return json.loads(line)


def policy(pid: int) -> tuple[int, int]:
    return os.sched_getscheduler(pid), os.getpriority(os.PRIO_PROCESS, pid)


def hogs(n: int) -> list[subprocess.Popen]:
    """Other work on the machine: a busy loop per core, at normal priority."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def end(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="leaving the idle class needs CAP_SYS_NICE")
def test_starved_analysis_takes_a_share_yields_again_when_calm_and_finishes_at_normal_priority():
    proc = session()
    busy: list[subprocess.Popen] = []
    try:
        start = said(proc)
        worker, tap = start["worker"], start["tap"]
        assert start == {"worker": worker, "tap": tap, "level": "IDLE", "governed": True}
        assert policy(worker)[0] == os.SCHED_IDLE and policy(proc.pid)[0] == os.SCHED_IDLE
        assert policy(tap) == (os.SCHED_OTHER, 0)       # the taps' threads keep their priority
        busy = hogs(os.cpu_count() or 2)
        change = said(proc)
        assert (change["old"], change["new"]) == ("IDLE", "SHARE") and change["waited_s"] >= 1.0
        assert policy(worker) == (os.SCHED_OTHER, SHARE_NICE) and policy(proc.pid) == (os.SCHED_OTHER, SHARE_NICE)
        assert policy(tap) == (os.SCHED_OTHER, 0)
        end(busy)
        assert said(proc) == {"old": "SHARE", "new": "IDLE", "waited_s": 0.0}
        assert policy(worker)[0] == os.SCHED_IDLE
        assert policy(tap) == (os.SCHED_OTHER, 0)
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        assert said(proc)["new"] == "NORMAL"
        assert said(proc) == {"level": "NORMAL"}
        assert proc.wait(WAIT_S) == 0
    finally:
        end(busy)
        proc.kill()
        proc.wait()


def test_an_analysis_that_keeps_up_stays_in_the_idle_class():
    proc = session(starved_s=0.5)
    try:
        start = said(proc)
        if not start["governed"]:
            pytest.skip("leaving the idle class needs CAP_SYS_NICE")
        time.sleep(2.0)     # the worker spins alone on a core (four times starved_s): it never waits
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        change = said(proc)
        assert (change["old"], change["new"]) == ("IDLE", "NORMAL")     # straight from the idle class to the end
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the session as another user")
def test_without_the_right_to_raise_priority_again_the_analysis_runs_at_nice_10_from_the_start():
    proc = session(user=65534)
    busy: list[subprocess.Popen] = []
    try:
        start = said(proc)
        assert start["level"] == "SHARE" and not start["governed"]
        assert policy(start["worker"]) == (os.SCHED_OTHER, SHARE_NICE)
        busy = hogs(os.cpu_count() or 2)
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        assert said(proc) == {"level": "SHARE"}     # never the idle class: it could not leave it
    finally:
        end(busy)
        proc.kill()
        proc.wait()
