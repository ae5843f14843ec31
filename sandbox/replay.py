"""Offline replay: saved captures + run folders -> findings, store rows and a report (via ``Session``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sandbox.analyzer import Analyzer, AnalyzerProcess
from sandbox.captures import CaptureError, open_capture
from sandbox.engine import Engine
from sandbox.index import build_index
from sandbox.report.profile import Profile
from sandbox.ring import RingReplaySource, group_rings
from sandbox.runs import RunFolderError
from sandbox.session import CaptureSource, Session, SessionResult, Source
from sandbox.store import Store

# Below this much capture a second process costs more (fork, pickling) than it saves.
PARALLEL_MIN_BYTES = 4 << 20


def check_capture(path: Path) -> None:
    """Raise ``CaptureError`` unless ``path`` is a capture whose first packet record can be read:
    a file whose first record is already damaged would otherwise replay as an empty, clean one."""
    why = open_capture(path).unreadable()
    if why is not None:
        raise CaptureError(f"{path}: no readable packet: {why}")


def check_run(index) -> None:
    """Raise ``RunFolderError`` for a run folder with no run data (an empty or mistyped folder)."""
    if not index.files or index.total_bytes == 0:
        raise RunFolderError(f"run folder {index.path} holds no run data (no readable non-empty file)")


def replay_inputs(keylog: Path | None, instrument: Sequence[str] | None) -> dict[str, Any]:
    """What a bundle needs besides the recordings to replay a session: the key log, the instrument's
    addresses, and the folder capture names are relative to."""
    return {"keylogs": [str(Path(keylog).resolve())] if keylog else [], "instrument": list(instrument or []),
            "cwd": os.getcwd()}


def replay(captures: Sequence[Path], runs: Sequence[Path], *, keylog: Path | None = None,
           allow: Sequence[str] = (), instrument: Sequence[str] | None = None, store: Store | None = None,
           cache_dir: Path | None = None, progress: Callable[[int], None] | None = None,
           index_progress: bool = False, jobs: int | None = None, profile: Profile | None = None) -> SessionResult:
    """Replay every capture through one Engine, merged in time order (flows may span ring-buffer files).

    ``allow`` (the command line's) and the ``profile``'s destinations make one allow-list."""
    profile = (profile or Profile()).with_cli_allowed(allow)
    allow = profile.allow_list
    for path in captures:  # fail on a bad capture before any work, not after the first file
        check_capture(path)
    indexes = [build_index(run, cache_dir=cache_dir, progress=index_progress) for run in runs]
    for index in indexes:
        check_run(index)
    if jobs is None:
        big = sum(Path(c).stat().st_size for c in captures) >= PARALLEL_MIN_BYTES
        jobs = 2 if big and (os.cpu_count() or 1) >= 2 else 1
    analyzer = AnalyzerProcess(indexes, allow) if jobs > 1 else Analyzer(indexes, allow)
    keylog_bytes = keylog.read_bytes() if keylog else b""
    errors: list[dict[str, str]] = []
    try:
        engine = Engine(indexes, allow=allow, instrument=instrument, analyzer=analyzer)
        session = Session(engine, indexes, store=store, mode="replay", errors=errors, progress=progress,
                          profile=profile, inputs=replay_inputs(keylog, instrument))
        # a ring buffer's files are one capture: its TLS sessions run on from file to file
        sources: list[Source] = [RingReplaySource(group, keylog_bytes, errors=errors) if len(group) > 1
                                 else CaptureSource(group[0], keylog_bytes, errors=errors)
                                 for group in group_rings(captures)]
        return session.run(sources)
    finally:
        if isinstance(analyzer, AnalyzerProcess):
            analyzer.close()
