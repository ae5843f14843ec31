"""Offline replay: saved captures + run folders -> findings, store rows and a report."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.analyzer import Analyzer, AnalyzerProcess
from sandbox.captures import open_capture
from sandbox.engine import Engine
from sandbox.index import build_index
from sandbox.model import Finding, Segment
from sandbox.protocols.tls_decrypt import TlsDecryptError, decrypt, interleave
from sandbox.report import NotExamined, build_report, flow_errors
from sandbox.store import Store

STORE_FLUSH_SECONDS = 2.0  # write findings/traffic this often so a dashboard watching a replay sees progress
# Below this much capture a second process costs more (fork, pickling) than it saves.
PARALLEL_MIN_BYTES = 4 << 20


@dataclass
class ReplayResult:
    findings: list[Finding]
    report: dict[str, Any]
    errors: list[dict[str, str]] = field(default_factory=list)


def _plaintext(path: Path, keylog: bytes, errors: list[dict[str, str]]) -> Iterator[Segment]:
    """tshark's decrypted TLS, streamed; a failure is reported and the ciphertext replay goes on."""
    try:
        yield from decrypt(path, keylog)
    except TlsDecryptError as exc:
        errors.append({"where": str(path), "error": f"TLS decryption failed: {exc}"})


def replay(captures: Sequence[Path], runs: Sequence[Path], *, keylog: Path | None = None,
           allow: Sequence[str] = (), instrument: Sequence[str] | None = None, store: Store | None = None,
           cache_dir: Path | None = None, progress: Callable[[int], None] | None = None,
           index_progress: bool = False, jobs: int | None = None) -> ReplayResult:
    """Replay every capture through one Engine (flows may span files of a ring buffer)."""
    started = time.time()
    for path in captures:  # fail on a bad capture before any work, not after the first file
        open_capture(path).close()
    indexes = [build_index(run, cache_dir=cache_dir, progress=index_progress) for run in runs]
    if jobs is None:
        big = sum(Path(c).stat().st_size for c in captures) >= PARALLEL_MIN_BYTES
        jobs = 2 if big and (os.cpu_count() or 1) >= 2 else 1
    analyzer = AnalyzerProcess(indexes, allow) if jobs > 1 else Analyzer(indexes, allow)
    try:
        return _replay(captures, indexes, Engine(indexes, allow=allow, instrument=instrument, analyzer=analyzer),
                       keylog=keylog, store=store, progress=progress, started=started)
    finally:
        if isinstance(analyzer, AnalyzerProcess):
            analyzer.close()


def _replay(captures: Sequence[Path], indexes: list, engine: Engine, *, keylog: Path | None,
            store: Store | None, progress: Callable[[int], None] | None, started: float) -> ReplayResult:
    errors: list[dict[str, str]] = []
    not_examined: list[NotExamined] = []
    capture_rows: list[dict[str, Any]] = []
    run_rows = [
        {"run_id": ix.run_id, "path": str(ix.path), "samples": list(ix.sample_ids)} for ix in indexes
    ]
    if store is not None:
        store.set_session(mode="replay", started=started, runs=[r["run_id"] for r in run_rows],
                          captures=[str(c) for c in captures], finished=None)
        for ix, row in zip(indexes, run_rows, strict=True):
            store.add_run(row["run_id"], row["path"], ix.platform, row["samples"], len(ix.files), ix.total_bytes)
    for path in captures:
        capture = open_capture(path)
        secrets = capture.tls_secrets
        keylog_bytes = b"\n".join(k for k in (keylog.read_bytes() if keylog else b"", secrets) if k)
        segments: Iterator[Segment] = iter(capture)
        if keylog_bytes:
            segments = interleave(segments, _plaintext(path, keylog_bytes, errors))
        count = 0
        next_flush = time.monotonic() + STORE_FLUSH_SECONDS
        for segment in segments:
            engine.feed(segment)
            count += 1
            if count % 1000:
                continue
            if progress is not None:
                progress(capture.position)
            if store is not None and time.monotonic() >= next_flush:
                next_flush = time.monotonic() + STORE_FLUSH_SECONDS
                store.put_findings(engine.changed())
                store.add_traffic(engine.take_traffic())
                store.put_flows(engine.take_touched_flows())
        if progress is not None:
            progress(capture.position)
        errors.extend({"where": str(path), "error": e} for e in capture.errors)
        stats = capture.stats
        not_examined.extend(stats.not_examined(str(path)))
        capture_rows.append({"path": str(path), "packets": stats.packets, "bytes": stats.bytes})
        if store is not None:
            channel = max(stats.channels, key=stats.channels.get) if stats.channels else "net"
            store.put_capture(str(path), channel, stats.packets, stats.bytes, 0, list(capture.errors))
    findings = engine.finish()
    for info in engine.flows:
        errors.extend(flow_errors(info))
    for ix in indexes:
        errors.extend({"where": f"{ix.path}/{e}" if not e.startswith("/") else e, "error": "run file"}
                      for e in ix.errors)
    report = build_report(findings, run_rows, capture_rows, errors, engine.notes, not_examined)
    if store is not None:
        store.put_findings(findings)
        store.add_traffic(engine.take_traffic())
        store.put_flows(engine.flows, allowed={f.flow: f.meta.get("allowed", False) for f in engine.flows})
        store.set_session(finished=time.time(), verdict=report["verdict"], not_examined=report["not_examined"])
    return ReplayResult(findings, report, errors)
