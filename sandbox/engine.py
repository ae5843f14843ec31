"""The core in one object: Segments in, Findings out.

Live taps and offline replay both drive an ``Engine``; that is what makes a replay of a recording
give the findings the live session gave.  The Engine itself is sans-IO; the ``analyzer`` it is
given decides whether decoding and matching run here or in a worker process.
"""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence

from sandbox.analyzer import Analyzer, AnalyzerProcess, Mark
from sandbox.correlate.opaque import UNREADABLE
from sandbox.correlate.redact import Redactor
from sandbox.model import Finding, FlowInfo, NotExamined, Observation, Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols.flows import MAX_ACTIVE_FLOWS
from sandbox.protocols.heads import HeaderFields
from sandbox.protocols.resolved import resolutions
from sandbox.protocols.tls_keys import SHARED_KEYLOG, KeyLog

TIMELINE_BUCKET_S = 1.0  # one point per second: fine enough to line up with a run's progress
# Capture-time seconds between judgements of the flows that changed (opaque volume, unlisted
# destinations): what content cannot show still reaches a live dashboard within a second.
FLOW_JUDGEMENT_S = 0.5
# Flows whose timeline position is remembered: twice the flow table's active flows.
TIMELINE_FLOWS = 2 * MAX_ACTIVE_FLOWS
# Flows whose first outbound frame is remembered (where a report points a finding at): ~150 bytes each,
# so a few tens of MB at most; findings on flows beyond it are located by their capture only.
MAX_LOCATED_FLOWS = 1 << 18


class Engine:
    def __init__(self, indexes: Sequence, allow: Sequence[str] = (), instrument: Sequence[str] | None = None,
                 analyzer: Analyzer | AnalyzerProcess | None = None):
        self.dissector = Dissector(instrument=list(instrument) if instrument else None)
        self.analyzer = analyzer if analyzer is not None else Analyzer(indexes, allow)
        self.heads = HeaderFields()      # the header fields of the instrument's packets, read as streams
        self._redactor = Redactor(indexes)   # what leaves for the store names no run data
        # outbound bytes of each flow already on the timeline, for the flows still active (LRU-bounded:
        # a flow evicted from here has long left the flow table, so it sends nothing more)
        self._last_out: OrderedDict[str, int] = OrderedDict()
        self._traffic: dict[tuple[float, str, str], int] = defaultdict(int)
        self._touched: dict[str, FlowInfo] = {}
        self._unjudged: dict[str, FlowInfo] = {}
        self._next_judgement = 0.0
        self.source = 0     # which of the session's sources the Segment being fed came from
        # flow -> (source, frame) of its first outbound bytes: where a finding on it is in the recordings
        self.first_out: dict[str, tuple[int, int]] = {}
        self.fed = 0        # feeds and ticks so far: orders what the analysis had (``covered``, ``handed``)
        self.covered = -1   # ``fed`` when the question the last ``changed`` answers was asked
        # flow -> ``fed`` when it last handed the analysis something, for the flows still active
        self._handed: OrderedDict[str, int] = OrderedDict()

    def feed(self, segment: Segment) -> None:
        self.fed += 1
        dissector = self.dissector
        items = dissector.feed(segment)
        if items:
            self._handle(items)
        if segment.head and dissector.last_direction == "out" and dissector.heard is not None:
            items = self.heads.feed(segment, dissector.heard)
            if items:
                self._handle(items)
        if segment.t >= self.heads.next_tick:
            self._handle(self.heads.tick(segment.t))
        if segment.t >= self._next_judgement:
            self._judge_flows(segment.t)
        if dissector.inner:     # flows of the frames a USB network adapter carried
            for info in dissector.inner:
                self._account(info, segment)
        info = dissector.last
        if info is not None:
            self._account(info, segment)

    def _account(self, info: FlowInfo, segment: Segment) -> None:
        """Books of a flow the Segment touched: live store rows, the timeline, where it first sent."""
        flow = info.flow
        self._touched[flow] = info
        self._unjudged[flow] = info
        last_out = self._last_out
        delta = info.bytes_out - last_out.get(flow, 0)
        if delta:
            bucket = float(int(segment.t // TIMELINE_BUCKET_S) * TIMELINE_BUCKET_S)
            self._traffic[(bucket, info.channel, info.destination or info.dst)] += delta
            last_out[flow] = info.bytes_out
            last_out.move_to_end(flow)
            if len(last_out) > TIMELINE_FLOWS:
                last_out.popitem(last=False)
            first_out = self.first_out
            if flow not in first_out and len(first_out) < MAX_LOCATED_FLOWS:
                first_out[flow] = (self.source, segment.frame)

    def add_key_log(self, keylog: KeyLog) -> None:
        """TLS secrets for the protocols that open their own packets with them (QUIC's 1-RTT)."""
        shared = self.dissector.shared
        known = shared.get(SHARED_KEYLOG)
        if known is None:
            shared[SHARED_KEYLOG] = keylog
        elif known is not keylog:
            for random, secrets in keylog.keys.items():
                known.keys.setdefault(random, {}).update(secrets)

    def tick(self, now: float) -> None:
        """Capture time ``now`` has passed with no packet (a live tap's quiet instrument): held-back
        bytes go to the analyzer and changed flows are judged, as the next packet would do."""
        self.fed += 1
        self._handle(self.dissector.tick(now))
        self._handle(self.heads.tick(now))
        if now >= self._next_judgement:
            self._judge_flows(now)

    def _judge_flows(self, now: float) -> None:
        self._next_judgement = now + FLOW_JUDGEMENT_S
        if self._unjudged:
            self.analyzer.flows(list(self._unjudged.values()))
            self._unjudged.clear()

    def finish(self) -> list[Finding]:
        if self._unjudged:      # before the flow table folds ended flows into summaries at its close
            self.analyzer.flows(list(self._unjudged.values()))
            self._unjudged.clear()
        self._handle(self.dissector.close())
        self._handle(self.heads.close())
        flows = list(self.dissector.flows.values())
        findings = self.analyzer.finish(flows)
        for info in flows:  # the analyzer may have judged copies (in a worker): bring its verdicts back
            info.meta["allowed"] = self.analyzer.allowed.get(info.flow, False)
        return findings

    def changed(self, mark: float = math.inf, wait: float | None = None) -> tuple[list[Finding], float]:
        """Findings new or changed since the last call (for a live dashboard), with the ``mark`` given
        to the call they answer (see ``AnalyzerProcess.changed``); ``covered`` says how much was fed
        before that call."""
        findings, answered = self.analyzer.changed(Mark(mark, self.fed), wait)
        self.covered = answered.fed
        return findings, answered.t

    def answered(self) -> bool:
        """Whether findings asked by ``changed`` without waiting have come (see ``AnalyzerProcess``)."""
        return self.analyzer.answered()

    def take_withdrawn(self) -> list[str]:
        """Ids of findings ``changed`` gave that are findings no more (a store drops them)."""
        return self.analyzer.take_withdrawn()

    @property
    def notes(self) -> list[str]:
        return self.analyzer.notes

    @property
    def link_notes(self) -> list[str]:
        """The links named (``--instrument link:N``) no packet was seen on: a note on the whole recording,
        so not among ``notes``, which an archive replay gathers from groups that each see part of it."""
        return self.dissector.notes()

    @property
    def not_examined(self) -> list[NotExamined]:
        """Outbound data nobody could look into: a decoding limit reached, holes in a TCP stream, then
        the content of opaque uploads (last: an archive replay adds those of its merged groups there)."""
        rows = self.analyzer.not_examined
        return ([n for n in rows if n["what"] != UNREADABLE] + self.dissector.not_examined()
                + [n for n in rows if n["what"] == UNREADABLE])

    def redacted(self, strings: list[str]) -> list[str]:
        """``strings`` with any run data in them hidden, as the store may keep them."""
        return self._redactor.strings(strings)

    def resolved(self, address: str) -> list[list[str]]:
        """[name, resolver] pairs the DNS answers fed so far gave ``address`` (``sandbox.protocols.resolved``)."""
        return resolutions(self.dissector.shared).of(address)

    def settled(self, name: str) -> float | None:
        """Capture time by which everything the flow ``name`` sent was handed to the analysis (its
        parsers held nothing back), or None while it may hold bytes back (``Dissector.settled``)."""
        return self.dissector.settled(name)

    def handed(self, name: str) -> int:
        """``fed`` when the flow a live connection named ``name`` is now last handed the analysis
        something (-1: nothing, or too long ago to remember): findings asked for after cover it."""
        info = self.dissector.current(name)
        return self._handed.get(info.flow, -1) if info is not None else -1

    def current_flow(self, name: str) -> FlowInfo | None:
        """The flow a live connection named ``name`` (no ``#n``) is now: what a ``--block`` judge weighs."""
        return self.dissector.current(name)

    @property
    def flows(self) -> list[FlowInfo]:
        return list(self.dissector.flows.values())

    def take_traffic(self) -> list[tuple[float, str, str, int]]:
        """Outbound bytes per (second, channel, destination) since the last call, for the timeline
        (destinations redacted: a host name made of run data is not copied to the store)."""
        items = list(self._traffic.items())
        self._traffic.clear()
        names = self.redacted([d for (_, _, d), _ in items])
        return [(t, c, name, n) for ((t, c, _), n), name in zip(items, names, strict=True)]

    def take_touched_flows(self) -> list[FlowInfo]:
        """Flows that saw traffic since the last call (redacted copies), so a live store stays current."""
        out = self._redactor.flows(list(self._touched.values()))
        self._touched.clear()
        return out

    def shown_flows(self) -> list[FlowInfo]:
        """Every flow, redacted, for the store at the end of a session."""
        return self._redactor.flows(self.flows)

    def _handle(self, items: Iterable[Payload | Observation]) -> None:
        handed, fed = self._handed, self.fed
        for item in items:
            handed[item.flow] = fed
            handed.move_to_end(item.flow)
            if isinstance(item, Payload):
                self.analyzer.payload(item)
                if item.direction == "out" and (info := self.dissector.flows.get(item.flow)) is not None:
                    self._unjudged[item.flow] = info    # its content may weigh in its opaque volume
            else:
                self.analyzer.observe(item)
        while len(handed) > TIMELINE_FLOWS:
            handed.popitem(last=False)
