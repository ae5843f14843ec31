"""One live demo session: make the run folder, start the bench and the rig, play the scenario through
it with the simulated instrument, and hold the findings to the scenario's truth.

The rig is ``hw.watch.watch``, as ``sandbox watch`` runs it: every tap records first, the session
follows the recordings, the store fills live (the dashboard reads it).  The instrument starts once
the taps are up; when it has played every leg the session ends (taps stopped, recordings read to
their end), so the report holds everything it sent.  ``truth.json`` beside the recordings says what
a replay of them must find too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hw.demo.bench import Bench
from hw.net.ca import ensure_ca
from hw.tap import TapError
from hw.watch import watch
from sandbox.simulate.platforms import make_run
from sandbox.simulate.scenario import Scenario
from sandbox.simulate.truth import TRUTH_FILE, LegTruth, check, write_truth
from sandbox.store import Store

RUN_FOLDER = "run"
# How long the instrument may take for one scenario (a loaded machine, every leg through mitmproxy).
PLAY_TIMEOUT_S = 600.0


@dataclass
class LiveResult:
    report: dict
    truth: list[LegTruth]
    problems: list[str]
    run_dir: Path
    allow: list[str]
    events: list[dict] = field(default_factory=list)
    store_error: str | None = None


def run_live(scenario: Scenario, session_dir: Path, store: Store, *, ca_dir: Path, cache_dir: Path | None,
             netns: str | None = None, pace: float = 0.0, jobs: int = 2, stop: threading.Event | None = None,
             on_event: Callable[[dict], None] | None = None, on_started: Callable[[list[str]], None] | None = None,
             legs: list[str] | None = None, build_index=None) -> LiveResult:
    """Play ``scenario`` through a live rig recording into ``session_dir``; see the module docstring.

    ``on_started`` hears what the rig runs (one line a tap), ``on_event`` each leg's start and end as the instrument
    reports them; ``stop`` ends the session early (Ctrl-C).  Raises ``TapError`` when the bench or a tap cannot start."""
    from sandbox.index import build_index as default_build
    from sandbox.replay import check_run

    stop = stop or threading.Event()
    run_dir = make_run(scenario.run, session_dir / RUN_FOLDER)
    index = (build_index or default_build)(run_dir, cache_dir=cache_dir)
    check_run(index)
    bench = Bench(scenario, session_dir, run_dir, ca_dir, netns)
    events: list[dict] = []
    players: list = []
    try:
        bench.start()
        taps = bench.taps()
        truth = [t for t in bench.truth() if legs is None or t.name in legs]
        allow = bench.allow()
        write_truth(session_dir / TRUTH_FILE, scenario.name, run_dir, allow, truth)
        ca_cert = ensure_ca(ca_dir)[0].cert_file

        def started() -> None:
            if on_started is not None:      # what the rig runs is said before the instrument's first leg
                on_started(bench.rig_lines(taps))
            proxy = next((tap.port for tap in taps if getattr(tap, "mode", "") == "regular"), None)
            player = bench.instrument(bench.plan(proxy, ca_cert, pace, legs))
            players.append(player)
            threading.Thread(target=_follow, args=(player, events, on_event, stop), daemon=True,
                             name="demo-instrument").start()

        result = watch(taps, [index], store=store, session_dir=session_dir, stop=stop, allow=allow, jobs=jobs,
                       on_started=started)
    finally:
        for player in players:     # ended early (Ctrl-C): the instrument stops with the rig
            if player.poll() is None:
                player.kill()
                player.wait()
        bench.close()
    problems = check(truth, result.report)
    failed = {e["leg"]: e["detail"] for e in events if e.get("event") == "failed"}
    done = {e["leg"] for e in events if e.get("event") == "done"}
    problems += [f"{leg}: the instrument could not send it: {why}" for leg, why in failed.items()]
    problems += [f"{t.name}: never played (the session ended first)" for t in truth
                 if t.name not in done and t.name not in failed]
    return LiveResult(result.report, truth, problems, run_dir, allow, events, result.store_error)


def _follow(player, events: list[dict], on_event, stop: threading.Event) -> None:
    """The instrument's leg events, as they come; the session ends when it is done (or told to), or
    when it has played for PLAY_TIMEOUT_S: a hung instrument does not hold the session open."""
    late = threading.Event()
    overdue = threading.Timer(PLAY_TIMEOUT_S, _overdue, args=(player, events, late))
    overdue.daemon = True
    overdue.start()
    try:
        for line in player.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            events.append(event)
            if on_event is not None:
                on_event(event)
            if stop.is_set():
                break
        stopped = stop.is_set()
        if stopped:
            player.kill()   # the session was ended early (Ctrl-C): the instrument stops with it
        player.wait()       # it has closed its output: ending, or killed
        if player.returncode not in (0, 1) and not stopped and not late.is_set():
            err = (player.stderr.read() or "").strip().splitlines()
            events.append({"leg": "instrument", "event": "failed",
                           "detail": f"exited {player.returncode}: {err[-1] if err else 'no message'}"})
    finally:
        overdue.cancel()
        if player.poll() is None:
            player.kill()
            player.wait()
        stop.set()


def _overdue(player, events: list[dict], late: threading.Event) -> None:
    if player.poll() is None:
        late.set()
        events.append({"leg": "instrument", "event": "failed",
                       "detail": f"it had not finished its scenario after {PLAY_TIMEOUT_S:.0f} s: stopped"})
        player.kill()


__all__ = ["LiveResult", "TapError", "run_live"]
