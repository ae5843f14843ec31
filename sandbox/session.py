"""One session driver for replay and live watch: Segment sources in; findings, store rows and a report out.

A replay reads saved captures to their end.  A live session follows the recordings its taps write
(record first: every byte is on disk before anything analyses it) and ticks the Engine's clock
while the instrument is quiet.  Both run through ``Session``, so the store and the report of a live
session and of the replay of its recording come from the same code.

Several sources are merged in capture-time order up to their common *watermark* (the capture time
up to which every source has handed over all it has), so the Engine sees the same sequence live as
it does when the recordings are replayed.
"""

from __future__ import annotations

import heapq
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sandbox.captures import Capture, open_capture
from sandbox.engine import Engine
from sandbox.model import Finding, FlowInfo, NotExamined, Segment
from sandbox.protocols.tls_keys import KeyLog, NativeDecrypt
from sandbox.report import build_report, flow_errors
from sandbox.report.locate import frame_records
from sandbox.report.profile import Profile
from sandbox.safetext import safe_text
from sandbox.store import Store, StoreError

# Segments taken from one source per poll: big enough to amortise the loop, small enough that
# several live sources take turns within milliseconds.
POLL_BATCH = 2000
# How often the store gets the findings, flows and traffic that changed: a replay every 2 s (so a
# dashboard watching it fills as it goes), a live session well inside the 1 s finding latency.
STORE_FLUSH_REPLAY_S = 2.0
STORE_FLUSH_LIVE_S = 0.25
# A live session's loop sleeps this long when no source had anything new.
IDLE_SLEEP_S = 0.02
# Seconds a writer may take to put a captured packet on disk (dumpcap flushes about every 0.25 s): a
# live recording that is caught up has delivered every packet older than now minus this.
WRITER_DELAY_S = 0.3
# Characters of a rig or instrument tag kept: a name, not a document (the run folder names it).
MAX_TAG = 80
# Bytes of a live recording that must exist before it is opened (a pcapng section header).
MIN_RECORDING_BYTES = 28


class FlowBook(Protocol):
    """What a live tap that acts on findings may ask of the session's Engine (``Session.on_findings``)."""

    covered: int    # ``Engine.fed`` (feeds and ticks) when the findings the hook was last given were asked for

    def current_flow(self, name: str) -> FlowInfo | None:
        """The flow a live connection's 4-tuple name is now, as fed so far."""

    def redacted(self, strings: list[str]) -> list[str]:
        """``strings`` as the store may keep them: no run data in them."""

    def resolved(self, address: str) -> list[list[str]]:
        """[name, resolver] pairs the DNS answers fed so far gave ``address``."""

    def settled(self, name: str) -> float | None:
        """Capture time by which all the flow ``name`` sent went to the analysis; None while its
        parsers may hold bytes back (a raw stream's partial chunk waits for more, or for quiet)."""

    def handed(self, name: str) -> int:
        """``Engine.fed`` when the flow ``name`` last handed the analysis something (-1: nothing)."""


FindingsHook = Callable[[list[Finding], float, FlowBook], None]


@dataclass
class SourceHealth:
    """What the dashboard's capture-health panel shows for one source."""

    name: str
    channel: str
    packets: int = 0
    bytes: int = 0
    drops: int = 0
    errors: list[str] = field(default_factory=list)
    lag_bytes: int = 0            # recorded but not yet read
    state: str = "running"        # waiting | running | done


class Source(Protocol):
    """Where Segments come from: a saved capture, a live tap's recording."""

    name: str
    channel: str
    done: bool

    def poll(self, limit: int) -> list[Segment]:
        """Segments ready now (at most ``limit``); ``[]`` when none yet."""

    def watermark(self, now: float) -> float:
        """Capture time up to which this source has handed over every Segment it will ever have."""

    def finish(self) -> None:
        """The writer stopped: what is left is read, then the source is done."""

    def health(self) -> SourceHealth: ...

    def not_examined(self) -> list[NotExamined]: ...

    def close(self) -> None: ...


class WrappedSource:
    """A Source around another (``raw``): whatever a subclass does not change is the raw one's."""

    def __init__(self, raw: Source) -> None:
        self.raw = raw
        self.name = raw.name

    @property
    def done(self) -> bool:
        return self.raw.done

    @property
    def channel(self) -> str:
        return self.raw.channel

    def poll(self, limit: int) -> list[Segment]:
        return self.raw.poll(limit)

    def watermark(self, now: float) -> float:
        return self.raw.watermark(now)

    def finish(self) -> None:
        self.raw.finish()

    def health(self) -> SourceHealth:
        return self.raw.health()

    def not_examined(self) -> list[NotExamined]:
        return self.raw.not_examined()

    def close(self) -> None:
        self.raw.close()


class CaptureSource:
    """A capture file: a saved one read to its end, or (``follow``) a recording a tap is writing.

    ``keylog``: NSS key log lines; TLS plaintext (``tls_keys``) joins the capture's Segments.  Saved
    captures only: a live session sees plaintext where its tap terminates TLS.
    """

    def __init__(self, path: Path, keylog: bytes = b"", follow: bool = False, channel: str = "",
                 errors: list[dict[str, str]] | None = None, writer_delay: float = WRITER_DELAY_S) -> None:
        self.path = Path(path)
        self.name = str(path)
        self._channel = channel
        self.follow = follow
        self.writer_delay = writer_delay
        self.keylog = keylog
        self.done = False
        self._errors = errors if errors is not None else []
        self._capture: Capture | None = None
        self._decrypt: NativeDecrypt | None = None
        self._segments: Iterator[Segment | None] | None = None
        self._last_t = -math.inf
        self._caught_up = False
        self._finishing = False
        if not follow:
            self._open()

    def _open(self) -> None:
        self._capture = capture = open_capture(self.path, follow=self.follow)
        segments: Iterator[Segment | None] = iter(capture)
        if not self.follow:
            segments = self._decrypting(segments, b"\n".join([self.keylog, capture.tls_secrets]))  # before it is read
        self._segments = segments

    def _decrypting(self, segments: Iterator[Segment], keylog: bytes) -> Iterator[Segment]:
        """``segments`` with the TLS plaintext ``keylog`` (NSS key log lines) opens joined in."""
        if not keylog.strip():
            return segments
        self._decrypt = NativeDecrypt(keylog + b"\n", where=self.name)
        return self._decrypt.follow(segments)

    def _not_decrypted(self) -> list[NotExamined]:
        return self._decrypt.not_examined() if self._decrypt is not None else []

    @property
    def key_log(self) -> KeyLog | None:
        """The key log its TLS is opened with (the one given and the capture's own), if any."""
        return self._decrypt.keylog if self._decrypt is not None else None

    @property
    def channel(self) -> str:
        """The channel given, else the one most of the capture's Segments were on."""
        if self._channel:
            return self._channel
        counts = self._capture.stats.channels if self._capture is not None else None
        return max(counts, key=counts.get) if counts else "net"

    def poll(self, limit: int) -> list[Segment]:
        if self.done:
            return []
        if self._segments is None:
            try:
                ready = self.path.stat().st_size >= MIN_RECORDING_BYTES
            except OSError:
                ready = False
            if not ready:
                if self._finishing:
                    self.done = True   # the writer stopped before writing anything
                return []
            self._open()
            if self._finishing:
                self._capture.finish_follow()
        out: list[Segment] = []
        self._caught_up = False
        for seg in self._segments:
            if seg is None:
                self._caught_up = True
                break
            out.append(seg)
            if len(out) >= limit:
                break
        else:
            self.done = True
        if out:
            self._last_t = max(self._last_t, out[-1].t)
        return out

    def watermark(self, now: float) -> float:
        if self.done:
            return math.inf
        if self.follow and (self._caught_up or self._segments is None):
            return max(self._last_t, now - self.writer_delay)
        return self._last_t

    def finish(self) -> None:
        self._finishing = True
        if self._capture is not None:
            self._capture.finish_follow()

    @property
    def position(self) -> int:
        return self._capture.position if self._capture is not None else 0

    def health(self) -> SourceHealth:
        cap = self._capture
        if cap is None:
            return SourceHealth(self.name, self.channel, state="done" if self.done else "waiting")
        try:
            lag = max(0, self.path.stat().st_size - cap.position) if self.follow else 0
        except OSError:
            lag = 0
        return SourceHealth(self.name, self.channel, cap.stats.packets, cap.stats.bytes, cap.stats.drops,
                            list(cap.errors), lag, "done" if self.done else "running")

    def not_examined(self) -> list[NotExamined]:
        blind = self._capture.stats.not_examined(self.name) if self._capture is not None else []
        return blind + self._not_decrypted()

    def capture_errors(self) -> list[str]:
        return list(self._capture.errors) if self._capture is not None else []

    def close(self) -> None:
        if self._capture is not None:
            self._capture.close()


@dataclass
class SessionResult:
    findings: list[Finding]
    report: dict[str, Any]
    errors: list[dict[str, str]] = field(default_factory=list)
    store_error: str | None = None     # the store could not be written (disk full): the run stopped it


class Session:
    """Drives one Engine from sources to the end of a replay, or until ``stop`` in a live session."""

    def __init__(self, engine: Engine, indexes: Sequence, *, store: Store | None = None, mode: str = "replay",
                 live: bool = False, errors: list[dict[str, str]] | None = None,
                 progress: Callable[[int], None] | None = None, clock: Callable[[], float] = time.time,
                 on_findings: FindingsHook | None = None,
                 profile: Profile | None = None, inputs: dict[str, Any] | None = None,
                 tap_failures: Callable[[], list[NotExamined]] | None = None,
                 merge: bool | None = None, notes: Sequence[str] = ()) -> None:
        """``profile``: the acceptance profile the report judges by (its allow-list is the engine's);
        ``inputs``: what else a bundle needs to replay the session (key logs, instrument addresses);
        ``tap_failures``: what the live taps lost (a process of theirs that ended on its own), asked
        on every flush and at the end; ``notes``: what the report must say of the session's scope
        (what its taps cannot see)."""
        self.engine = engine
        self.profile = profile or Profile()
        self.inputs = inputs or {}
        self.tap_failures = tap_failures or list
        self.notes = list(notes)
        self.indexes = list(indexes)
        self.store = store
        self.mode = mode
        self.live = live
        self.errors = errors if errors is not None else []
        self.progress = progress
        self.clock = clock
        # a live tap that acts on findings (--block): called with the findings a flush writes (it may
        # add to them), the capture time they cover (everything fed up to it has been matched: the
        # worker's answer may be a flush or two behind the feeding) and the Engine (``FlowBook``);
        # at the end with all of them
        self.on_findings = on_findings
        # sources go through the time-ordered merge when there are several (None); a part of a
        # larger replay (one capture group of an archive) merges as the whole replay would
        self.merge = merge
        self.started = clock()
        self.run_rows = [run_row(ix) for ix in self.indexes]
        self._heap: list[tuple[float, int, int, Segment]] = []
        self._pending: list[int] = []     # Segments of each source waiting in the heap
        self._pushed = 0
        self._watermark = -math.inf
        self.store_error: str | None = None

    # -- the loop ------------------------------------------------------------------------------
    def run(self, sources: Sequence[Source], stop: threading.Event | None = None,
            before_finish: Callable[[], None] | None = None) -> SessionResult:
        """Feed every source to the Engine; returns when all are done (after ``stop`` for live ones).

        When ``stop`` is set, ``before_finish`` runs (taps stop and close their recordings), then
        every source reads what is left: nothing recorded is left unanalysed."""
        self._begin(sources)
        flush_every = STORE_FLUSH_LIVE_S if self.live else STORE_FLUSH_REPLAY_S
        next_flush = time.monotonic() + flush_every
        finishing = False
        merge = len(sources) > 1 if self.merge is None else self.merge
        self._pending = [0] * len(sources)
        while not all(s.done for s in sources):
            stopping = (stop is not None and stop.is_set()) or (self.live and self.store_error is not None)
            if stopping and not finishing:
                finishing = True
                if before_finish is not None:
                    before_finish()
                for s in sources:
                    s.finish()
            # the clock before the reads: a recording read to its end then holds every packet written
            # before now (a packet written after the read, while this thread was paused, is not under it)
            now = self.clock()
            got = 0
            for rank, s in enumerate(sources):
                if merge and self._pending[rank] >= POLL_BATCH:
                    continue       # it is ahead of the others: its Segments wait in the heap
                batch = s.poll(POLL_BATCH)
                got += len(batch)
                if not merge:
                    for seg in batch:
                        self.engine.feed(seg)
                elif batch:
                    self._push(rank, batch)
            watermark = min((s.watermark(now) for s in sources), default=math.inf)
            if merge:
                self._release(watermark)
            if self.live and math.isfinite(watermark) and watermark > self._watermark:
                self._watermark = watermark
                self.engine.tick(watermark)
            if self.progress is not None and got:
                self.progress(sum(getattr(s, "position", 0) for s in sources))
            if time.monotonic() >= next_flush:
                next_flush = time.monotonic() + flush_every
                self._flush(sources)
            elif self.live and self.engine.answered():
                self._flush(sources)
            if not got and self.live:
                time.sleep(IDLE_SLEEP_S)
        self._release(math.inf)
        return self._end(sources)

    def _push(self, rank: int, batch: list[Segment]) -> None:
        """Queue a source's Segments for the time-ordered merge (ties: source order, then arrival)."""
        heap = self._heap
        for seg in batch:
            self._pushed += 1
            heapq.heappush(heap, (seg.t, rank, self._pushed, seg))
        self._pending[rank] += len(batch)

    def _release(self, watermark: float) -> None:
        heap, pending, feed = self._heap, self._pending, self.engine.feed
        while heap and heap[0][0] <= watermark:
            _, rank, _, seg = heapq.heappop(heap)
            pending[rank] -= 1
            self.engine.source = rank
            feed(seg)

    # -- store and report ------------------------------------------------------------------------
    def _write(self, write: Callable[[Store], None]) -> None:
        """One store update; when the store cannot be written (disk full) the session stops using
        it and says why once: a live session then ends cleanly, a replay goes on to its report."""
        if self.store is None:
            return
        try:
            write(self.store)
        except StoreError as exc:
            self.store_error = str(exc)
            self.store = None

    def _begin(self, sources: Sequence[Source]) -> None:
        for source in sources:      # protocols that open what TLS keys protect in their own packets (QUIC)
            keylog = getattr(source, "key_log", None)
            if keylog is not None:
                self.engine.add_key_log(keylog)
        def begin(store: Store) -> None:
            if not store.tags().get("instrument"):      # the fleet view names the instrument under test
                store.tag(instrument=instrument_names(self.indexes))
            store.set_session(mode=self.mode, started=self.started, runs=[r["run_id"] for r in self.run_rows],
                              captures=[s.name for s in sources], finished=None, pid=os.getpid(),
                              heartbeat=self.started, live=self.live, profile=self.profile.stored(),
                              run_rows=self.run_rows, inputs=self.inputs)
            if self.live:       # a channel in scope that no tap carries: the dashboard says so at once
                store.set_session(profile_not_examined=self.profile.uncaptured(s.channel for s in sources))
            for ix, row in zip(self.indexes, self.run_rows, strict=True):
                store.add_run(row["run_id"], row["path"], ix.platform, row["samples"], len(ix.files),
                              ix.total_bytes)

        self._write(begin)

    def _flush(self, sources: Sequence[Source]) -> None:
        if self.store is None and self.on_findings is None:
            return
        engine = self.engine
        # live: the worker is asked and does not keep the session waiting (it may be matching a large
        # payload); its answer is written as soon as it comes (``answered`` in the loop)
        findings, upto = engine.changed(self._watermark, wait=0.0 if self.live else None)
        if self.on_findings is not None:
            self.on_findings(findings, upto, engine)
        if self.store is None:
            return
        traffic, flows, withdrawn = engine.take_traffic(), engine.take_touched_flows(), engine.take_withdrawn()
        health = [s.health() for s in sources]
        blind = [n for s in sources for n in s.not_examined()] + list(engine.not_examined) + self.tap_failures()
        located = self._locations(sources, findings, offsets=False)

        def flush(store: Store) -> None:
            store.drop_findings(withdrawn)
            store.put_findings(findings)
            store.put_locations(located)
            store.add_traffic(traffic)
            store.put_flows(flows)
            for h in health:
                store.put_capture(h.name, h.channel, h.packets, h.bytes, h.drops, h.errors)
            store.set_session(heartbeat=self.clock(), lag_bytes=sum(h.lag_bytes for h in health),
                              not_examined=blind)

        self._write(flush)

    def _end(self, sources: Sequence[Source]) -> SessionResult:
        engine = self.engine
        findings = engine.finish()
        if self.on_findings is not None:
            self.on_findings(findings, math.inf, engine)
        errors = self.errors
        capture_rows = []
        not_examined: list[NotExamined] = []
        for s in sources:
            h = s.health()
            errors.extend({"where": s.name, "error": e} for e in h.errors)
            capture_rows.append({"path": s.name, "packets": h.packets, "bytes": h.bytes, "drops": h.drops})
            not_examined.extend(s.not_examined())
        not_examined.extend(engine.not_examined)
        not_examined.extend(self.tap_failures())
        for info in engine.flows:
            errors.extend(flow_errors(info))
        for ix in self.indexes:
            errors.extend({"where": f"{ix.path}/{e}" if not e.startswith("/") else e, "error": "run file"}
                          for e in ix.errors)
        notes = ([n for ix in self.indexes for n in ix.notes] + self.notes + list(engine.notes)   # cache doubts first
                 + engine.link_notes)
        health = [s.health() for s in sources]
        shown = engine.shown_flows()
        profile_blind = self.profile.unexamined(flow_names(shown), [h.channel for h in health])
        locations = self._locations(sources, findings, offsets=True)
        finished = self.clock()
        facts = {"mode": self.mode, "live": self.live, "state": "finished", "started": self.started,
                 "finished": finished}
        report = build_report(findings, self.run_rows, capture_rows, errors, notes, not_examined + profile_blind,
                              profile=self.profile, session=facts, locations=locations)

        withdrawn = engine.take_withdrawn()

        def end(store: Store) -> None:
            for h in health:
                store.put_capture(h.name, h.channel, h.packets, h.bytes, h.drops, h.errors)
            store.drop_findings(withdrawn)
            store.put_findings(findings)
            store.add_traffic(engine.take_traffic())
            store.put_flows(shown, allowed={f.flow: f.meta.get("allowed", False) for f in engine.flows},
                            replace=True)
            store.put_locations(locations)
            store.set_session(finished=finished, verdict=report["verdict"], not_examined=not_examined,
                              profile_not_examined=profile_blind, errors=report["errors"], notes=report["notes"],
                              lag_bytes=0)

        self._write(end)
        for s in sources:
            s.close()
        return SessionResult(findings, report, errors, self.store_error)

    def _locations(self, sources: Sequence[Source], findings: Sequence[Finding],
                   offsets: bool) -> dict[str, dict[str, Any]]:
        """Where each finding's flow first sent data (``locate``); ``offsets`` at the end, when the
        recordings are closed."""
        first_out = self.engine.first_out
        named = {}
        for f in findings:
            at = first_out.get(f.flow)
            if at is not None and at[1] > 0 and f.flow not in named:
                source = sources[at[0]]
                # a ring's frames are numbered across its files: the file, and the frame there
                named[f.flow] = source.locate(at[1]) if hasattr(source, "locate") else (source.name, at[1])
        return locate(findings, named, offsets)


def locate(findings: Sequence[Finding], first_out: Mapping[str, tuple[str, int]],
           offsets: bool) -> dict[str, dict[str, Any]]:
    """Where each finding's flow first sent data: capture, frame (``first_out``: flow -> capture name,
    frame) and (``offsets``) the byte offset and length of that frame's record in the capture."""
    out: dict[str, dict[str, Any]] = {}
    for f in findings:
        at = first_out.get(f.flow)
        if at is not None and at[1] > 0 and f.flow not in out:
            out[f.flow] = {"capture": at[0], "frame": at[1], "byte_offset": None, "byte_length": None}
    if offsets:
        for name in {loc["capture"] for loc in out.values()}:
            here = [loc for loc in out.values() if loc["capture"] == name]
            records = frame_records(name, [loc["frame"] for loc in here])
            for loc in here:
                loc["byte_offset"], loc["byte_length"] = records.get(loc["frame"], (None, None))
    return out


def run_row(ix: Any) -> dict[str, Any]:
    """A run as the report lists it: id, folder, samples, and the instrument that made it."""
    named = {i["kind"]: i["value"] for i in reversed(ix.identifiers) if i["kind"] in ("instrument", "flowcell")}
    return {"run_id": ix.run_id, "path": str(ix.path), "samples": list(ix.sample_ids), "platform": ix.platform,
            "instrument": named.get("instrument", ""), "flowcell": named.get("flowcell", "")}


def flow_names(flows: Sequence) -> list[tuple[str, ...]]:
    """Each flow's names an allow-list judges (destination, address, SNI, Host), as the store keeps them."""
    return [(f.destination, f.dst, str(f.meta.get("sni", "") or ""), str(f.meta.get("host", "") or ""))
            for f in flows]


def instrument_names(indexes: Sequence) -> str:
    """The instrument serials the run folders name (a session's default instrument tag)."""
    names = dict.fromkeys(i["value"] for ix in indexes for i in ix.identifiers if i.get("kind") == "instrument")
    return safe_text(", ".join(names), limit=MAX_TAG)
