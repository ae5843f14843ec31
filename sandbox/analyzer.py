"""Decode and correlate: what happens to each Payload once the protocols have carved it out.

``Analyzer`` does it in the calling process; ``AnalyzerProcess`` does the same in a forked worker
so reading and dissecting (one core) overlap with decoding and matching (the other core).  Both
take the same calls, so the Engine does not care which it has.  When the worker falls behind (its
queue is full), the reading side unfolds payloads itself (``unfold``: decoding and collapsing)
instead of waiting, and the worker only matches them: the same steps in the same order, so the
findings are those of one process whoever did the unfolding.

A decoding limit that stops the unfolding of outbound data (here, or in a protocol's content
coding) is a ``decode-limit`` finding and a ``not_examined`` entry: never a silent clean.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
import multiprocessing as mp
import os
import queue
import signal
from collections.abc import Sequence
from typing import Any, NamedTuple

from sandbox.bytes_ring import RING_MIN, BytesRing, dumps, loads
from sandbox.correlate import Correlator
from sandbox.decode import expand
from sandbox.decode.expand import Unread
from sandbox.decode.limits import DECODE_LIMIT, DECODE_LIMIT_SEVERITY, LimitHit
from sandbox.decode.repeats import collapse
from sandbox.decode.unopened import unopened_bytes
from sandbox.model import (
    DRAWN_AT_RANDOM,
    NOT_EXAMINED_KIND,
    Finding,
    FlowInfo,
    NotExamined,
    Observation,
    Payload,
    View,
)

# Payload bytes per message to the worker: big enough to amortise pickling, small enough that what is
# in flight when reading ends (the worker's alone to match) is little: 4 MiB left the worker ~0.7 s of
# a 3.9 s replay to do alone; 512 KiB cut that replay's wall by ~7% (benchmarks/replay.py)
BATCH_BYTES = 512 << 10
BATCH_ITEMS = 512  # ...and few enough small items that a live dashboard still sees them promptly
QUEUED_BATCHES = 2  # batches in flight: reading runs ahead of matching by at most ~1.5 MB (then unfolds itself)
HELD_BYTES, HELD_ITEMS = 4 * BATCH_BYTES, 4 * BATCH_ITEMS   # a batch held (unfolded) while the worker is behind
PARENT_CHECK_S = 1.0  # an idle worker checks this often that its session is still alive
_PR_SET_PDEATHSIG = 1
# not_examined rows for decoding limits: one per (flow, limit, decoder); a flood of flows that
# each hit a limit shares one summary row past this, so the report stays readable and bounded.
MAX_UNEXAMINED_ROWS = 256
OTHER_FLOWS = "(other flows)"


# Allocations glibc serves from its heap rather than fresh mmap()s, and free heap it keeps: a 64 MB
# body piece is joined, pickled, received, lower-cased and hashed in buffers of its size; fresh
# pages for each (zeroed, faulted in) cost the worker ~10% of its time.  Memory held is the peak.
HEAP_REUSE_BYTES = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
WARM_HEAP_BYTES = 192 << 20     # what matching one 64 MB body piece allocates at once, about


class Mark(NamedTuple):
    """What the caller had fed when it asked ``changed``, given back with the answer: the answer
    covers it.  ``t``: the capture time every source had handed over up to (a live recording's is a
    guess: a recorder may write later than its writer delay); ``fed``: how many feeds and ticks the
    caller had made (exact)."""

    t: float
    fed: int = 0


EVERYTHING = Mark(math.inf)          # a replay's: all fed
NOTHING_ANSWERED = Mark(-math.inf, -1)


def reuse_freed_memory() -> None:
    """Have glibc reuse freed large buffers (see ``HEAP_REUSE_BYTES``); elsewhere nothing changes."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return      # not glibc (musl, macOS): its own allocator, its own habits
    mallopt(_M_MMAP_THRESHOLD, HEAP_REUSE_BYTES)
    mallopt(_M_TRIM_THRESHOLD, HEAP_REUSE_BYTES)


def warm_heap() -> None:
    """Fault in the heap a large payload is matched in (its bytes, their lower-cased copy, the
    collapsed view): glibc keeps it once freed (``reuse_freed_memory``)."""
    blocks = [bytearray(WARM_HEAP_BYTES // 3) for _ in range(3)]
    del blocks


def limit_observation(payload: Payload, hit: LimitHit, bytes_out: int) -> Observation:
    """The decode-limit Observation of a limit hit while unfolding ``payload``."""
    return Observation(kind=DECODE_LIMIT, severity=DECODE_LIMIT_SEVERITY, flow=payload.flow,
                       channel=payload.channel, destination=payload.destination, t_first=payload.t_first,
                       t_last=payload.t_last, bytes_out=bytes_out, chain=hit.chain,
                       detail={**hit.detail(), "where": hit.text})


def unread_observation(payload: Payload, part: Unread) -> Observation:
    """The not-examined Observation of a part of ``payload`` a decoder found and could not read."""
    return Observation(kind=NOT_EXAMINED_KIND, severity="info", flow=payload.flow, channel=payload.channel,
                       destination=payload.destination, t_first=payload.t_first, t_last=payload.t_last,
                       bytes_out=part.size, chain=part.chain, detail={"what": part.what, "decoder": part.decoder})


class Unexamined:
    """What decoding limits left unexamined, as ``not_examined`` rows (bounded, see above)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], NotExamined] = {}

    def add(self, obs: Observation) -> None:
        if obs.kind == NOT_EXAMINED_KIND:   # a parser could not look into these bytes (no limit hit)
            what = str(obs.detail.get("what", "not examined"))
            key = (obs.flow, what, "")
            if key not in self._rows and len(self._rows) >= MAX_UNEXAMINED_ROWS:
                key = (OTHER_FLOWS, "", "")
            row = self._rows.setdefault(key, NotExamined(where=key[0], what=what if key[0] != OTHER_FLOWS
                                                         else "not examined", packets=0, bytes=0))
            row["packets"] += 1
            row["bytes"] += obs.bytes_out
            return
        limit, decoder = str(obs.detail.get("limit", "")), str(obs.detail.get("decoder", ""))
        key = (obs.flow, limit, decoder)
        if key not in self._rows and len(self._rows) >= MAX_UNEXAMINED_ROWS:
            key = (OTHER_FLOWS, "", "")
        row = self._rows.get(key)
        if row is None:
            where = obs.flow if key[0] != OTHER_FLOWS else OTHER_FLOWS
            what = f"decoding limit: {obs.detail.get('where', limit)}" if key[0] != OTHER_FLOWS else "decoding limits"
            row = self._rows[key] = NotExamined(where=where, what=what, packets=0, bytes=0)
        row["bytes"] += int(obs.detail.get("bytes_not_examined", 0))

    def rows(self) -> list[NotExamined]:
        return [NotExamined(**row) for row in self._rows.values()]


@dataclasses.dataclass
class Unfolded:
    """An outbound payload decoded into its views (each with its repetition collapsed)."""

    payload: Payload
    views: list[View]
    notes: list[str]
    limits: list[LimitHit]
    same_bytes: bool  # the first view is the payload's bytes as they were (stream offsets hold)
    unopened: int = 0  # ciphertext-looking bytes no decoder opened (sandbox.decode.unopened)
    unread: list[Unread] = dataclasses.field(default_factory=list)  # parts decoders could not read

    @property
    def size(self) -> int:
        return sum(len(v.data) for v in self.views)


def unfold(payload: Payload) -> Unfolded:
    """Decode a payload within the limits and collapse the repetition of each view."""
    expansion = expand(payload.data, payload.chain)
    # at most what the payload carried new: random bytes do not compress, so no decoding of unread
    # content makes more of it (a chance decode that copies its input would count it twice, and the
    # bytes a raw chunk repeats from the one before were counted with that one)
    fresh = len(payload.data) - payload.repeated
    unopened = min(fresh, unopened_bytes([v.data for v in expansion.views], expansion.explained))
    views = [View(collapse(v.data), v.chain) for v in expansion.views]
    return Unfolded(payload, views, expansion.notes, expansion.limits, views[0].data is payload.data, unopened,
                    expansion.unread)


class Analyzer:
    def __init__(self, indexes: Sequence, allow: Sequence[str] = (), warm: bool = False):
        """``warm``: prepare the indexes now (``RunIndex.prepare``), not on the first payload."""
        if warm:
            for index in indexes:
                index.prepare()
        self.correlator = Correlator(list(indexes), allow=list(allow))
        self.notes: list[str] = []
        self.payloads = 0
        self.views = 0
        self.allowed: dict[str, bool] = {}
        self._unexamined = Unexamined()

    @property
    def not_examined(self) -> list[NotExamined]:
        """Outbound bytes a decoding limit kept from being examined, then the opaque uploads' content
        (the report's not_examined)."""
        return self._unexamined.rows() + self.correlator.unreadable()

    def payload(self, payload: Payload) -> None:
        if payload.direction != "out":  # only what the instrument sends can leak
            return
        self.match(unfold(payload))

    def match(self, unfolded: Unfolded) -> None:
        """Match an unfolded payload's views (and record what unfolding noted and left out)."""
        payload = unfolded.payload
        self.payloads += 1
        self.views += len(unfolded.views)
        self.notes.extend(f"{payload.flow}: {note}" for note in unfolded.notes)
        for n, hit in enumerate(unfolded.limits):  # the payload's bytes count once in bytes_out
            self.observe(limit_observation(payload, hit, len(payload.data) if n == 0 else 0))
        for part in unfolded.unread:
            self.observe(unread_observation(payload, part))
        if unfolded.unopened and DRAWN_AT_RANDOM.isdisjoint(payload.chain):
            self.correlator.unopened(payload, unfolded.unopened)
        if not unfolded.same_bytes:  # offsets in the view no longer map to the stream
            payload = dataclasses.replace(payload, stream_offset=None)
        self.correlator.scan(payload, unfolded.views)

    def observe(self, obs: Observation) -> None:
        if obs.kind == NOT_EXAMINED_KIND:
            self._unexamined.add(obs)
            return
        if obs.kind == DECODE_LIMIT:
            self._unexamined.add(obs)
        self.correlator.observe(obs)

    def flows(self, flows: list[FlowInfo]) -> None:
        """Judge flows that changed (volume, destination) before the end: live findings."""
        self.correlator.flows(flows)

    def changed(self, mark: Mark = EVERYTHING, wait: float | None = None) -> tuple[list[Finding], Mark]:
        """Findings new or changed since the last call, and ``mark`` (what the caller had fed by then:
        here, everything)."""
        return self.correlator.changed(), mark

    def take_withdrawn(self) -> list[str]:
        """Ids of findings given by ``changed`` that are findings no more (see ``Correlator.changed``)."""
        return self.correlator.take_withdrawn()

    def answered(self) -> bool:
        """Whether an answer to changed() waits (never: this one answers at once)."""
        return False

    def finish(self, flows: list[FlowInfo]) -> list[Finding]:
        self.correlator.flows(flows)
        self.correlator.close()
        self.allowed = {f.flow: bool(f.meta.get("allowed")) for f in flows}
        return self.correlator.findings()


class FlowsChanged(NamedTuple):
    """Flows to judge (``Analyzer.flows``), sent to the worker in its batch, in order with the payloads."""

    flows: list[FlowInfo]


def die_with_parent(parent: int) -> None:
    """End this worker the moment its session process dies (Linux): killed, the session must let go of
    everything it holds at once, and the worker inherited its connections (a PostgreSQL store's
    session lock among them), whatever the worker is doing and however low its priority.  Elsewhere
    an idle worker still checks every PARENT_CHECK_S."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:      # it died before the request was made
        os._exit(0)


def _serve(requests: Any, conn: Any, ring: BytesRing, indexes: Sequence, allow: Sequence[str], parent: int,
           warm: bool) -> None:
    die_with_parent(parent)
    reuse_freed_memory()
    if warm:
        ring.warm()
        warm_heap()
    analyzer = Analyzer(indexes, allow, warm=warm)
    try:
        while True:
            try:
                op, arg = requests.get(timeout=PARENT_CHECK_S)
            except queue.Empty:
                if os.getppid() != parent:
                    return      # the session was killed: nobody will ask for the findings
                continue
            if op == "ringed":
                op, arg = "batch", loads(arg, ring)
            if op == "batch":
                for item in arg:
                    if isinstance(item, Payload):
                        analyzer.payload(item)
                    elif isinstance(item, Unfolded):
                        analyzer.match(item)
                    elif isinstance(item, FlowsChanged):
                        analyzer.flows(item.flows)
                    else:
                        analyzer.observe(item)
            elif op == "changed":
                conn.send(("ok", (analyzer.changed()[0], analyzer.not_examined, analyzer.take_withdrawn())))
            elif op == "finish":
                findings = analyzer.finish(arg)
                conn.send(("ok", (findings, analyzer.notes, analyzer.payloads, analyzer.views, analyzer.allowed,
                                  analyzer.not_examined, analyzer.take_withdrawn())))
                return
    except EOFError:
        return
    except BaseException as exc:  # report to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class AnalyzerProcess:
    """An Analyzer in a forked worker; calls are batched one way, answers come back on request."""

    def __init__(self, indexes: Sequence, allow: Sequence[str] = (), warm: bool = False):
        """``warm``: the worker builds the indexes' lookup structures and touches the memory a large
        payload needs before it is asked anything (a live session: its first leak is found as soon
        as the later ones)."""
        ctx = mp.get_context("fork")  # the indexes (memory-mapped) are inherited, not pickled
        # Requests go through a bounded queue (its feeder thread writes while we read on);
        # answers come back on a pipe.
        self._requests = ctx.Queue(maxsize=QUEUED_BATCHES)
        self._conn, child = ctx.Pipe(duplex=False)
        self._ring = BytesRing()       # large bytes go this way (see sandbox.bytes_ring)
        self._proc = ctx.Process(target=_serve, args=(self._requests, child, self._ring, indexes, list(allow),
                                                      os.getpid(), warm), daemon=True, name="sandbox-analyzer")
        self._proc.start()
        child.close()
        self._batch: list[Payload | Unfolded | Observation | FlowsChanged] = []
        self._batch_bytes = 0
        self._batch_large = False       # bytes in it for the ring (see sandbox.bytes_ring)
        self.notes: list[str] = []
        self.payloads = 0
        self.views = 0
        self.allowed: dict[str, bool] = {}
        self.not_examined: list[NotExamined] = []  # as of the last changed() or finish()
        self._withdrawn: list[str] = []        # ids of findings withdrawn, answered by changed()
        self._asked: Mark | None = None       # the mark of a changed() question not answered yet
        self._answered = NOTHING_ANSWERED     # the mark of the last one answered
        self._unasked = 0                     # payload bytes sent since the last question

    @property
    def pid(self) -> int:
        """The worker's process id (a live session lowers its priority below the taps')."""
        return self._proc.pid

    def payload(self, payload: Payload) -> None:
        if payload.direction != "out":
            return
        if self._requests.full():   # the worker is behind: unfold here rather than wait for room
            unfolded = unfold(payload)
            self._batch.append(unfolded)
            self._batch_bytes += unfolded.size
            self._batch_large |= any(len(v.data) >= RING_MIN for v in unfolded.views)
        else:
            self._batch.append(payload)
            self._batch_bytes += len(payload.data)
        self._batch_large |= len(payload.data) >= RING_MIN
        if self._batch_bytes >= BATCH_BYTES or len(self._batch) >= BATCH_ITEMS:
            # a worker that is behind: the batch grows here, unfolded, rather than wait for room
            if not self._requests.full() or self._batch_bytes >= HELD_BYTES or len(self._batch) >= HELD_ITEMS:
                self._flush()

    def observe(self, obs: Observation) -> None:
        self._batch.append(obs)

    def flows(self, flows: list[FlowInfo]) -> None:
        self._batch.append(FlowsChanged(flows))     # in order with the payloads; no wait for room

    def changed(self, mark: Mark = EVERYTHING, wait: float | None = None) -> tuple[list[Finding], Mark]:
        """Findings new or changed, with the ``mark`` of the call whose question they answer: the worker
        answers once it has matched everything sent before the question.  ``wait``: at most this long
        for the answer (None: until it comes); one not in by then comes with a later call, so a live
        session reads on while the worker works through a large payload instead of stopping with it."""
        if self._asked is None:
            self._question(mark)
        findings: list[Finding] = []
        if wait is None or self._conn.poll(wait):
            findings, self.not_examined, withdrawn = self._receive()
            self._withdrawn += withdrawn
            self._answered, self._asked = self._asked, None
            if wait is not None and self._batch_bytes + self._unasked >= RING_MIN:
                # a large piece sent since that question: asked about now, not at the caller's next
                # tick, so its findings come as soon as the worker is through it (small work waits)
                self._question(mark)
        return findings, self._answered

    def take_withdrawn(self) -> list[str]:
        """Ids of findings given before that are findings no more, as answered so far."""
        gone, self._withdrawn = self._withdrawn, []
        return gone

    def _question(self, mark: Mark) -> None:
        self._flush()
        self._send(("changed", None))
        self._asked, self._unasked = mark, 0

    def answered(self) -> bool:
        """Whether the answer to a changed() question has come: a live session collects it at once."""
        return self._asked is not None and self._conn.poll()

    def finish(self, flows: list[FlowInfo]) -> list[Finding]:
        findings, self.notes, self.payloads, self.views, self.allowed, self.not_examined, withdrawn = self._ask(
            "finish", flows)
        self._withdrawn += withdrawn
        self._proc.join(timeout=10)
        return findings

    def _flush(self) -> None:
        if self._batch:
            self._send(("ringed", dumps(self._batch, self._ring)) if self._batch_large else ("batch", self._batch))
            self._unasked += self._batch_bytes
            self._batch, self._batch_bytes, self._batch_large = [], 0, False

    def _send(self, message: tuple) -> None:
        while True:
            if not self._proc.is_alive():
                raise RuntimeError(self._death())
            try:
                self._requests.put(message, timeout=1.0)
                return
            except queue.Full:
                continue

    def _ask(self, op: str, arg: Any) -> Any:
        if self._asked is not None:     # an answer to changed() still to come: it comes first
            self._receive()
            self._asked = None
        self._flush()
        self._send((op, arg))
        return self._receive()

    def _receive(self) -> Any:
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(self._death()) from None
        if status == "error":
            raise RuntimeError(f"analyzer worker failed: {value}")
        return value

    def _death(self) -> str:
        try:
            status, value = self._conn.recv() if self._conn.poll() else ("", None)
        except (EOFError, OSError):
            status, value = "", None
        if status == "error":
            return f"analyzer worker failed: {value}"
        self._proc.join(timeout=1)
        return f"analyzer worker died (exit code {self._proc.exitcode})"

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._requests.cancel_join_thread()
        self._requests.close()
        self._conn.close()
        self._ring.close()
