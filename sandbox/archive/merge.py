"""Groups replayed apart, merged into what one replay of the whole archive gives.

Why this is exact.  One replay feeds every capture's Segments to one Engine in capture-time order.
Two groups are *independent* when that Engine carries nothing from one to the other:

- time: the later starts more than ``INDEPENDENT_GAP_S`` after the earlier ends, so when its first
  Segment arrives every flow of the earlier one is idle past its timeout and closed (the worker of
  the earlier group lets its clock run on to that Segment's time before finishing, which is what
  that Segment does first);
- state shared between flows (the flow table's ``shared``): no DNS zone that could reach a tunnel
  verdict (``ZoneState``) in both, no connection claimed in one and made in the other, no flow to an
  address a DNS answer of an earlier one vouched names for (``resolved``), nothing else (a site's mark
  that it carried a deflate stream, which other flows' pieces are read from inside of, lasts less than
  the gap: ``follow.RESYNC_MARK_S``).

Then each flow lives in one group, and so does every finding keyed by a flow: the accumulators are
disjoint except the per-destination findings (an unlisted destination, across flows), which are
merged here in the correlator's own terms (flows listed in first-judged order, up to its cap), and
opaque volume, whose books are added together (a book that had to let flows go makes every group
run together: which ones it let go depends on what came before).
Flow names are renumbered as one flow table would number them ("... #2" for the second flow on a
4-tuple).  Groups found dependent are replayed again as one group; what cannot be told apart is
treated as dependent, so the merge is exact or the groups run together, never approximately.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.analyzer import Analyzer
from sandbox.archive.worker import GroupResult, ZoneState
from sandbox.correlate.correlator import MAX_FLOWS_LISTED
from sandbox.correlate.opaque import UNREADABLE
from sandbox.correlate.redact import Redactor
from sandbox.engine import MAX_LOCATED_FLOWS
from sandbox.model import Finding, FlowInfo, NotExamined, severity_rank
from sandbox.protocols.dns import MAX_ZONES, TUNNEL_ENCODED_NAMES, TUNNEL_MIN_UNIQUE
from sandbox.protocols.flows import IDLE_TIMEOUT_TCP, IDLE_TIMEOUT_UDP, SWEEP_INTERVAL
from sandbox.protocols.tcp import CLOSED_LINGER
from sandbox.report import build_report, flow_errors
from sandbox.report.profile import Profile
from sandbox.session import flow_names as session_flow_names
from sandbox.session import locate, run_row

# Capture seconds between two groups beyond which no flow of the earlier is still open when the
# later begins: the longest idle timeout, plus the sweep's grid.
INDEPENDENT_GAP_S = max(IDLE_TIMEOUT_TCP, IDLE_TIMEOUT_UDP, CLOSED_LINGER) + SWEEP_INTERVAL
CROSS_FLOW_KINDS = frozenset({"destination"})  # finding kinds keyed by destination alone, across flows
BOOK_KINDS = frozenset({"opaque-volume"})   # made from the opaque book at the end: the merged book's
_NUMBERED = re.compile(r" #\d+$")


class _Groups:
    """Union-find over group numbers, with the reasons they were joined."""

    def __init__(self, n: int):
        self.parent = list(range(n))
        self.reasons: list[str] = []

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int, why: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)
            self.reasons.append(why)

    def sets(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return [sorted(s) for s in out.values()]


@dataclass
class Dependence:
    """Which groups (by place in capture-time order) must be replayed together, and why."""

    together: list[list[int]]
    reasons: list[str] = field(default_factory=list)

    @property
    def independent(self) -> bool:
        return all(len(s) == 1 for s in self.together)


def dependence(results: Sequence[GroupResult]) -> Dependence:
    """Check that groups (in capture-time order) shared nothing (see the module docstring)."""
    n = len(results)
    g = _Groups(n)
    names = [", ".join(p.name for p in r.task.group.captures[:2]) + ("..." if len(r.task.group.captures) > 2 else "")
             for r in results]
    # time: each group against the latest end before it
    reach, last = -float("inf"), -1
    for i, r in enumerate(results):
        if r.t_first != r.task.start and r.segments:
            if i:
                g.join(i - 1, i, f"{names[i]}: does not start where it was probed (timestamps out of order)")
        if r.segments and last >= 0 and r.t_first - reach <= INDEPENDENT_GAP_S:
            g.join(last, i, f"{names[i]}: starts {r.t_first - reach:.0f} s after {names[last]} ends "
                            f"(flows may continue: groups must be {INDEPENDENT_GAP_S:.0f} s apart)")
        if r.segments and r.t_last >= reach:
            reach, last = r.t_last, i
    # DNS zones that could reach a tunnel verdict, counted over every group
    if any(r.zones is None for r in results):
        with_dns = [i for i, r in enumerate(results) if r.zones is None or r.zones]
        for i in with_dns[1:]:
            g.join(with_dns[0], i, "DNS zone statistics of an unknown shape: groups with DNS run together")
    else:
        _join_zones(results, g, names)
    # connections negotiated in one group (FTP data) and made in another
    for i, r in enumerate(results):
        for endpoint in r.claims:
            for j in range(i + 1, n):
                if any(f.transport == "tcp" and endpoint in ((f.src, f.sport), (f.dst, f.dport))
                       for f in results[j].flows):
                    g.join(i, j, f"{names[j]}: a connection claimed in {names[i]}")
        # a name vouched for an address in one group, a flow to that address in a later one
        if r.answered is None:
            for j in range(i + 1, n):
                g.join(i, j, f"{names[i]}: more DNS answers than the flow table keeps: the groups after it run with it")
        elif r.answered:
            answered = set(r.answered)
            for j in range(i + 1, n):
                if any(f.dst in answered for f in results[j].flows):
                    g.join(i, j, f"{names[j]}: a flow to an address whose DNS answer is in {names[i]}")
        if r.other_state:
            for j in range(i + 1, n):
                g.join(i, j, f"{names[i]}: shared parser state {r.other_state}: the groups after it run with it")
        if r.opaque.overflowed:     # its book let flows go: which ones depends on what came before
            for j in range(n):
                g.join(i, j, f"{names[i]}: more opaque flows or destinations than one book holds: all run together")
    # a finding both hold that is not a cross-flow one (a flow the checks above missed)
    owner: dict[tuple, int] = {}
    for i, (r, renames) in enumerate(zip(results, flow_names(results), strict=True)):
        for key, acc in r.accs.items():
            renamed = (renames.get(key[0], key[0]), *key[1:])
            if acc.kind in BOOK_KINDS:
                continue
            if renamed in owner and not (acc.kind in CROSS_FLOW_KINDS and not key[0]):
                g.join(owner[renamed], i, f"{names[i]}: a finding of {names[owner[renamed]]} continues in it")
            owner.setdefault(renamed, i)
    return Dependence(g.sets(), g.reasons)


def _join_zones(results: Sequence[GroupResult], g: _Groups, names: list[str]) -> None:
    holders: dict[Any, list[int]] = {}
    for i, r in enumerate(results):
        for key in r.zones:
            holders.setdefault(key, []).append(i)
    if len(holders) > MAX_ZONES:   # one replay's zone table would evict some: order matters then
        everyone = sorted({i for held in holders.values() for i in held})
        for i in everyone[1:]:
            g.join(everyone[0], i, f"more than {MAX_ZONES} DNS zones in all: groups with DNS run together")
        return
    for key, held in holders.items():
        if len(held) < 2:
            continue
        states: list[ZoneState] = [results[i].zones[key] for i in held]
        if any(s.seen is None for s in states):
            live = True
        else:
            unique = len(frozenset().union(*(s.seen for s in states)))
            live = unique >= TUNNEL_MIN_UNIQUE or sum(s.encoded for s in states) >= TUNNEL_ENCODED_NAMES
        if live:       # counted together this zone could reach a verdict apart it would not (or differently)
            for i in held[1:]:
                g.join(held[0], i, f"{names[i]}: DNS zone {_zone_name(key)} counts toward a tunnel verdict "
                                   f"with {names[held[0]]}")


def _zone_name(key: Any) -> str:
    """A zone table key as people read it: the zone, and the client asking (keys are (client, zone))."""
    if isinstance(key, tuple) and len(key) == 2:
        return f"{key[1]} (asked by {key[0]})"
    return str(key)


def flow_names(results: Sequence[GroupResult]) -> list[dict[str, str]]:
    """Per group, its flow names -> the names one flow table over every group would give them."""
    counts: dict[str, int] = {}
    out = []
    for r in results:
        names = {}
        for info in r.flows:
            base = _NUMBERED.sub("", info.flow)
            counts[base] = counts.get(base, 0) + 1
            names[info.flow] = base if counts[base] == 1 else f"{base} #{counts[base]}"
        out.append(names)
    return out


def _renamed_acc(acc: Any, names: dict[str, str]) -> Any:
    acc.flow = names.get(acc.flow, acc.flow)
    acc.key = (names.get(acc.key[0], acc.key[0]), *acc.key[1:])     # "" for a cross-flow finding
    flows = acc.detail.get("flows")
    if isinstance(flows, dict):
        acc.detail["flows"] = {names.get(k, k): v for k, v in flows.items()}
    return acc


def _merge_cross_flow(into: Any, acc: Any) -> None:
    """A destination finding seen by a later group: as the correlator's ``flows`` would have
    continued it (times widen, flows listed in first-judged order up to MAX_FLOWS_LISTED, bytes
    the sum of those listed)."""
    into.t_first = min(into.t_first, acc.t_first)
    into.t_last = max(into.t_last, acc.t_last)
    into.severity = max(into.severity, acc.severity, key=severity_rank)
    if not into.chain:
        into.chain = list(acc.chain)
    if not into.flow:
        into.flow = acc.flow
    flows = into.detail.setdefault("flows", {})
    for fid, nbytes in acc.detail.get("flows", {}).items():
        if fid in flows or len(flows) < MAX_FLOWS_LISTED:
            flows[fid] = nbytes
    into.detail["flow_count"] = len(flows)
    into.bytes_out = sum(flows.values())


def _rename_where(items: list[NotExamined], names: dict[str, str]) -> list[NotExamined]:
    return [{**n, "where": names.get(n["where"], n["where"])} for n in items]


def _rename_note(note: str, names: dict[str, str]) -> str:
    flow, sep, rest = note.partition(": ")
    return f"{names[flow]}{sep}{rest}" if sep and flow in names else note


@dataclass
class Merged:
    """What one replay of the archive gives: its findings and report, and the store's rows."""

    findings: list[Finding]
    report: dict[str, Any]
    errors: list[dict[str, str]]
    flows: list[FlowInfo]              # redacted copies, for the store
    allowed: dict[str, bool]
    traffic: list[tuple[float, str, str, int]]
    captures: list[tuple[str, str, int, int, int, list[str]]]   # (path, channel, packets, bytes, drops, errors)
    locations: dict[str, dict[str, Any]]
    not_examined: list[NotExamined]    # by the captures and the Engine
    profile_not_examined: list[NotExamined]   # what the acceptance profile expected and nobody saw


def merge(results: Sequence[GroupResult], indexes: Sequence, profile: Profile, captures: Sequence[str],
          session: dict[str, Any]) -> Merged:
    """Merge groups (in capture-time order) that ``dependence`` found independent into one replay's
    findings and report (the results are consumed: their flows and accumulators are renamed).

    ``captures`` are the archive's capture names in its order (the report lists them so);
    ``profile`` judges the report, ``session`` is its session facts (mode, state, times)."""
    names = flow_names(results)
    accs: dict[tuple, Any] = {}
    owner: dict[tuple, int] = {}
    for i, (r, renames) in enumerate(zip(results, names, strict=True)):
        for acc in r.accs.values():
            if acc.kind in BOOK_KINDS:
                continue
            acc = _renamed_acc(acc, renames)
            if acc.key not in accs:
                accs[acc.key], owner[acc.key] = acc, i
            elif acc.kind in CROSS_FLOW_KINDS and not acc.key[0]:
                _merge_cross_flow(accs[acc.key], acc)
            else:   # dependence() joins such groups: reaching here is a bug, never a wrong report
                raise AssertionError(f"groups {owner[acc.key]} and {i} share finding {acc.key}")
    flows: list[FlowInfo] = []
    first_out: dict[str, tuple[str, int]] = {}
    for r, renames in zip(results, names, strict=True):
        for info in r.flows:
            info.flow = renames[info.flow]
            flows.append(info)
        for flow, at in r.first_out.items():       # one Engine's table: the first MAX_LOCATED_FLOWS in time
            if len(first_out) < MAX_LOCATED_FLOWS:
                first_out.setdefault(renames.get(flow, flow), at)
    analyzer = Analyzer(indexes, profile.allow_list)
    analyzer.correlator._acc = accs       # the single replay's correlator, as it would stand at its end
    for r, renames in zip(results, names, strict=True):
        analyzer.correlator.opaque.absorb(r.opaque, renames)
    analyzer.notes = [_rename_note(n, renames) for r, renames in zip(results, names, strict=True) for n in r.notes]
    findings = analyzer.finish(flows)       # the final judgement of every flow, then the findings: same code
    for info in flows:
        info.meta["allowed"] = analyzer.allowed.get(info.flow, False)

    by_name: dict[str, tuple[Any, list[NotExamined], list[dict[str, str]]]] = {}
    for r in results:
        for name, health, blind in zip(r.source_names, r.health, r.source_blind, strict=True):
            by_name[name] = (health, blind, [e for e in r.run_errors if e["where"] == name])
    errors: list[dict[str, str]] = [e for name in captures for e in by_name[name][2]]
    capture_rows, store_captures, not_examined, channels = [], [], [], []
    for name in captures:
        health, blind, _ = by_name[name]
        errors.extend({"where": name, "error": e} for e in health.errors)
        capture_rows.append({"path": name, "packets": health.packets, "bytes": health.bytes, "drops": health.drops})
        store_captures.append((name, health.channel, health.packets, health.bytes, health.drops, list(health.errors)))
        channels.append(health.channel)
        not_examined.extend(blind)
    not_examined.extend(n for r, renames in zip(results, names, strict=True)
                        for n in _rename_where(r.engine_blind, renames) if n["what"] != UNREADABLE)
    not_examined.extend(analyzer.correlator.unreadable())     # of the merged book: one replay's rows
    for info in flows:
        errors.extend(flow_errors(info))
    for ix in indexes:
        errors.extend({"where": f"{ix.path}/{e}" if not e.startswith("/") else e, "error": "run file"}
                      for e in ix.errors)
    notes = [n for ix in indexes for n in ix.notes] + analyzer.notes
    shown = Redactor(indexes).flows(flows)
    profile_blind = profile.unexamined(session_flow_names(shown), channels)
    locations = locate(findings, first_out, offsets=True)
    report = build_report(findings, [run_row(ix) for ix in indexes], capture_rows, errors, notes,
                          not_examined + profile_blind, profile=profile, session=session, locations=locations)
    traffic: dict[tuple[float, str, str], int] = {}
    for r in results:
        for t, channel, dest, nbytes in r.traffic:
            traffic[(t, channel, dest)] = traffic.get((t, channel, dest), 0) + nbytes
    return Merged(findings, report, errors, shown, dict(analyzer.allowed),
                  [(t, c, d, n) for (t, c, d), n in traffic.items()], store_captures, locations, not_examined,
                  profile_blind)
