"""The flow table's books: a FlowInfo per flow that matters, per-destination summaries for the rest.

A long session or a flood (a million connection attempts) must not keep a record per flow forever.
Every active flow has its record; when a flow ends it keeps it while the books have room, and a flow
that sent a lot keeps it always (an upload is worth its own row: opaque-volume findings name it).
Past the room, an ended flow is folded into the summary of its (source, destination): counters
added, ``meta["summary"]`` counting the flows, naming the first few and counting each error message
(``errors`` shows them as "message (xN)").  Flows that carried no payload (SYNs, refused connections) get less room than
flows that carried data, so a flood of attempts cannot crowd out the records of real traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.model import MAX_FLOW_ERRORS, MORE_ERRORS, FlowInfo

# Ended flows kept with their own record: a day of an instrument's connections (a status post every
# 5 s over new connections is ~17k a day); ~1 KB each.
MAX_FLOW_RECORDS = 20_000
# ... of which flows that carried no payload: a few hundred failed attempts say what a scan looked like.
MAX_EMPTY_RECORDS = 1_000
# A flow that sent this much keeps its record past the cap (the correlator's opaque-volume floor).
KEEP_BYTES_OUT = 64 << 10
# Destinations summarised one by one; past them one summary per (channel, transport) takes the rest
# (a scan of the whole internet would otherwise make a summary per address).
MAX_SUMMARIES = 4096
# Flow ids named in a summary: enough to find examples in the capture.
MAX_SUMMARY_EXAMPLES = 5
ANY = "*"


@dataclass(slots=True)
class _Summary:
    info: FlowInfo
    dports: set[int] = field(default_factory=set)


class FlowRecords:
    """``flows`` holds every active flow's record, the ended flows kept, and the summaries."""

    def __init__(self) -> None:
        self.flows: dict[str, FlowInfo] = {}
        self.kept = 0
        self.summarised = 0
        self._summaries: dict[tuple[str, ...], _Summary] = {}

    @property
    def crowded(self) -> bool:
        """True once the books hold as many records as flows without payload may keep: from then on
        such a flow is news only if it carries something (see ``Dissector.last``)."""
        return len(self.flows) >= MAX_EMPTY_RECORDS

    def open(self, info: FlowInfo) -> None:
        self.flows[info.flow] = info

    def close(self, info: FlowInfo, keep: bool = False) -> None:
        """The flow ended (called once per flow): keep its record, or fold it into its destination's
        summary.  ``keep``: a report row names it (a blind spot), so its record keeps the name."""
        if self.flows.get(info.flow) is not info:
            return
        payload = info.bytes_out or info.bytes_in
        room = self.kept < (MAX_FLOW_RECORDS if payload else MAX_EMPTY_RECORDS)
        if room or keep or info.bytes_out >= KEEP_BYTES_OUT:
            self.kept += 1
            return
        del self.flows[info.flow]
        self.summarised += 1
        self._fold(info)

    def _fold(self, info: FlowInfo) -> None:
        destination = info.destination or info.dst
        key = (info.channel, info.transport, info.src, destination)
        summary = self._summaries.get(key)
        if summary is None and len(self._summaries) >= MAX_SUMMARIES:
            key = (info.channel, info.transport, ANY, ANY)
            summary = self._summaries.get(key)
        if summary is None:
            summary = self._summaries[key] = self._new(info, key)
            self.flows[summary.info.flow] = summary.info
        s = summary.info
        s.t_first = min(s.t_first, info.t_first)
        s.t_last = max(s.t_last, info.t_last)
        s.packets += info.packets
        s.bytes_out += info.bytes_out
        s.bytes_in += info.bytes_in
        s.missed_out += info.missed_out
        s.resent_out += info.resent_out
        s.urgent_out += info.urgent_out
        s.forged_in += info.forged_in
        s.encrypted |= info.encrypted
        s.decrypted |= info.decrypted
        s.sealed = s.sealed or info.sealed
        s.sealed_out += info.sealed_out
        s.tls_out += info.tls_out
        if not s.app:
            s.app = info.app
        if len(summary.dports) <= 1:
            summary.dports.add(info.dport)
            s.dport = next(iter(summary.dports)) if len(summary.dports) == 1 else 0
        book = s.meta["summary"]
        book["flows"] += 1
        if len(book["examples"]) < MAX_SUMMARY_EXAMPLES:
            book["examples"].append(info.flow)
        if info.errors:
            self._count_errors(s, info)

    @staticmethod
    def _new(info: FlowInfo, key: tuple[str, ...]) -> _Summary:
        channel, transport, src, destination = key
        fid = f"{transport} {src} > {destination} (flows summarised)"
        if channel != "net":
            fid = f"{channel} {fid}"
        s = FlowInfo(flow=fid, channel=channel, transport=transport, src=src, sport=0,
                     dst=info.dst if destination != ANY else ANY, dport=info.dport, destination=destination,
                     t_first=info.t_first, t_last=info.t_last,
                     meta={"summary": {"flows": 0, "examples": [], "errors": {}}})
        return _Summary(s)

    @staticmethod
    def _count_errors(s: FlowInfo, info: FlowInfo) -> None:
        counts: dict[str, int] = s.meta["summary"]["errors"]
        kept = info.errors[:MAX_FLOW_ERRORS]
        more = info.errors_dropped
        for message in kept:
            if message in counts:
                counts[message] += 1
            elif len(counts) < MAX_FLOW_ERRORS:
                counts[message] = 1
            else:
                more += 1
        if more:
            counts[MORE_ERRORS] = counts.get(MORE_ERRORS, 0) + more
        s.errors = [f"{m} (x{n})" for m, n in counts.items()]

    def summaries(self) -> list[FlowInfo]:
        return [s.info for s in self._summaries.values()]
