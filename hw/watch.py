"""``sandbox watch``: a live session.  Taps record (each in its own process), the session follows
their recordings into one Engine, the store fills live, and the end gives the report a replay of the
recordings gives."""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from hw.priority import AnalysisPriority, Level
from hw.tap import ScopedTap, SidedTap, Tap, TapError
from sandbox.analyzer import Analyzer, AnalyzerProcess, reuse_freed_memory
from sandbox.engine import Engine
from sandbox.model import NotExamined
from sandbox.report.profile import Profile
from sandbox.safetext import safe_text
from sandbox.session import FlowBook, Session, SessionResult, Source
from sandbox.store import Store


def watch(taps: Sequence[Tap], indexes: Sequence, *, store: Store, session_dir: Path, stop: threading.Event,
          allow: Sequence[str] = (), instrument: Sequence[str] | None = None, jobs: int = 2,
          on_started: Callable[[], None] | None = None, profile: Profile | None = None) -> SessionResult:
    """Run taps until ``stop`` is set; returns the session's findings and report.

    Raises ``TapError`` when a tap cannot start (the ones already started are stopped first);
    ``on_started`` runs once every tap is up (threads and processes it starts keep their priority; the
    analysis then yields, see ``hw.priority``).
    """
    profile = (profile or Profile()).with_cli_allowed(allow)   # one allow-list: --allow and the profile's
    allow = profile.allow_list
    # the analyzer worker is forked first, while this process has no other thread; both keep the
    # memory a large body piece passes through (joined, handed over, matched) for the next one
    reuse_freed_memory()
    analyzer = AnalyzerProcess(indexes, allow, warm=True) if jobs > 1 else Analyzer(indexes, allow, warm=True)
    priority = AnalysisPriority(analyzer.pid if isinstance(analyzer, AnalyzerProcess) else None,
                                on_change=_starved)
    started: list[Tap] = []

    def stop_taps() -> None:
        for tap in reversed(started):
            tap.stop()

    try:
        sources: list[Source] = []
        for tap in taps:
            try:
                sources.extend(tap.start(session_dir))
            except TapError:
                stop_taps()
                raise
            started.append(tap)
        # which end of a flow is the instrument: what the engineer said, else what the taps know
        instrument = list(instrument or []) or [c for tap in started if isinstance(tap, SidedTap)
                                                for c in tap.instrument_side()]
        engine = Engine(indexes, allow=allow, instrument=instrument, analyzer=analyzer)
        if on_started is not None:
            on_started()
        # record first: the analysis yields the CPU to the taps.  Only now: what on_started starts (a
        # dashboard, the demo's instrument) would inherit the idle class from this thread
        priority.start(stop)
        hooks = [(tap.name, tap.on_findings) for tap in started if hasattr(tap, "on_findings")]
        hook_failures: list[NotExamined] = []

        def on_findings(findings: list, watermark: float, book: FlowBook) -> None:
            for name, hook in list(hooks):
                try:
                    hook(findings, watermark, book)
                except Exception as exc:    # a bug of ours: end cleanly, with the report, rather than die
                    hooks.remove((name, hook))
                    hook_failures.append(_hook_failed(name, exc, engine))
                    stop.set()          # the tap stops: what it holds (--block) is refused, never passed

        said: set[str] = set()

        def tap_failures() -> list[NotExamined]:
            failed = [n for tap in started for n in tap.failures()] + hook_failures
            for n in failed:           # the operator hears of it at once, not only in the report
                if n["what"] not in said:
                    said.add(n["what"])
                    print(f"sandbox: {safe_text(n['where'])}: {n['what']}", file=sys.stderr, flush=True)
            return failed

        scoped = [tap for tap in started if isinstance(tap, ScopedTap)]
        session = Session(engine, indexes, store=store, mode="watch", live=True,
                          on_findings=on_findings if hooks else None, profile=profile,
                          inputs={"keylogs": [], "instrument": list(instrument or []), "cwd": os.getcwd()},
                          tap_failures=tap_failures, notes=[n for tap in scoped for n in tap.scope()])

        def finish_taps() -> None:
            stop_taps()
            # what a tap learnt can quote the instrument (an addon's error on a header it sent)
            session.notes += engine.redacted([n for tap in scoped for n in tap.closing_notes()])

        return session.run(sources, stop, before_finish=finish_taps)
    finally:
        priority.close()
        stop_taps()
        if isinstance(analyzer, AnalyzerProcess):
            analyzer.close()


def _hook_failed(tap: str, exc: Exception, engine: Engine) -> NotExamined:
    """What a tap's findings hook raising costs the session (it is stopped): said in the report, and
    the frames on stderr for the bug report; the message only redacted (it may quote traffic)."""
    (message,) = engine.redacted([str(exc)])
    print("".join(traceback.format_tb(exc.__traceback__)), file=sys.stderr, flush=True)
    return NotExamined(where=tap, what=f"the tap failed acting on findings ({type(exc).__name__}: {message}): the "
                       "session was stopped there, and what the tap held refused", packets=0, bytes=0)


def _starved(old: Level, new: Level, waited_s: float) -> None:
    """The operator hears when the analysis was kept from the CPU (by the taps or by other work)."""
    if new is Level.SHARE:
        print(f"sandbox: the analysis waited {waited_s:.0f} s for the CPU (the taps and other work on this machine "
              f"took it): it now takes a share ({new.value}), still below the taps'; findings lag until it catches "
              "up", file=sys.stderr, flush=True)


def session_folder(record: Path | None, started: float) -> Path:
    """Where a session's recordings go: ``--record`` or ``captures/SESSION-<time>/``; private (0700)."""
    import time

    folder = record or Path("captures") / time.strftime("SESSION-%Y%m%d-%H%M%S", time.localtime(started))
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise TapError(f"cannot record into {folder}: {exc.strerror or exc}") from None
    return folder
