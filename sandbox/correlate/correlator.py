"""The correlator: payload views in, findings out, one finding per leak.

Per view it looks for four kinds of run evidence (byte fingerprints, DNA k-mers, variant records,
identifiers);
what one flow sent to one destination of one run is one finding, its evidence kinds listed inside
(``evidence_kinds``), its ``kind`` the strongest of them.  Per flow it adds what content cannot
show (opaque volume, unlisted destinations, protocol observations such as DNS tunnels).
Byte counts are what is proven: a file's share is the bytes of it shown present (a view place
matching a k-gram the file repeats counts once), and ``bytes_matched`` never exceeds what the flow
sent.  State is bounded: per (flow, file) a capped range set, per (flow, run) one bit per indexed
k-mer, per finding at most MAX_EVIDENCE evidence rows of each kind.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sandbox.index import RunIndex
from sandbox.index import winnow as wn
from sandbox.index.kmers import sorted_unique
from sandbox.model import FileMatch, Finding, FlowInfo, NotExamined, Observation, Payload, View, severity_rank

from .allow import AllowList
from .allow import _host as host_of  # the allow-list's own reading of a host
from .identifiers import IdentifierMatcher, lower
from .intervals import IntervalSet
from .opaque import SPREAD, OpaqueBook
from .redact import Redactor, preview
from .sequence import Recoding, ViewKmers, recoded_kmers, view_kmers
from .sequence import match as match_sequence
from .variants import VariantCounts, VariantTally, find_variants

MAX_EVIDENCE = 20  # evidence rows kept per finding and kind: enough to locate the leak, bounded memory
MAX_FLOWS_LISTED = 20  # flows named in one destination finding
# Flows whose claimed names nobody vouched for, remembered to mark their findings ``unverified``;
# past this the least recent is let go and every finding is marked (a waiver by name never errs to clean).
MAX_UNVOUCHED_FLOWS = 1 << 18
# Encrypted flows to one destination with an info finding each; the rest share one (a flood of
# connections, TLS or QUIC, is one line of the report, not a hundred thousand).
MAX_ENCRYPTED_FLOWS = 16
CRITICAL_SHARE = 0.5  # share of a file or of a sample's k-mers that makes a leak critical
CRITICAL_BYTES = 10 << 20  # matched bytes that make a leak critical whatever the share
CRITICAL_MIN_FILE = 64 << 10  # files smaller than this (run info, sheets) never reach critical by share
SINGLE_READ_BASES = 2 * 150  # sequence evidence this small is "a single read": medium, not high
# Bytes of run files proven present below which byte evidence is medium, not high: one k-gram
# (32 bytes) can be a phrase two files share by chance; two chained ones are a fragment.
HIGH_MIN_BYTES = 2 * wn.K
# What one flow sent to one destination of one run is one finding; its kind is the strongest
# evidence (at equal severity, bytes before sequence before identifiers).
RUN_CONTENT = "run-content"
EVIDENCE_KINDS = ("run-bytes", "sequence", "variants", "identifier")
OPAQUE_MIN = 64 << 10  # opaque uploads below this are handshakes and heartbeats, never run data
OPAQUE_MAX = 1 << 20  # an encrypted upload of 1 MiB to an unlisted place is always worth a look
OPAQUE_RUN_SHARE = 0.1  # ... or of a tenth of the run, when the run is small
# ... or of the run's smallest file of reads, alignments or variants (one sample's VCF can be 100 KiB:
# sealed whole, it must not pass under a threshold sized for FASTQ)
OPAQUE_WHOLE_FILE_KINDS = frozenset(("fastq", "fasta", "alignment", "vcf", "pod5", "fast5"))
SEGMENT_GAP = wn.W  # fingerprints of one contiguous match are at most a window of k-grams apart
SEQ_PIECE = 4 << 20  # view bytes searched for DNA per pass: k-mer temporaries are ~100 bytes per base
SEQ_OVERLAP = 1024  # bytes shared by consecutive pieces: a read (even line-wrapped) lies whole in one
MIN_EXCLUSIVE_KMERS = 20  # k-mers only one sample has: enough to name that sample alone
EXCLUSIVE_SHARE = 0.01  # ... and at least this share of the matched k-mers (sequencing errors aside)
# View places only one file matches that make it "explain" the view over files sharing its other
# places: one such place may be a chance k-gram (a read coordinate) two files share, two are not.
EXPLAINS_PLACES = 2
# A file matching only isolated places that lie between places of the view's main file at most
# this far apart is dropped: those bytes are the main file's too (its own fingerprint there was not
# kept, e.g. lines re-broken), and a chance k-gram such as a read header names the other file.
# A fragment of another file longer than this inside the main one is still reported.
ABSORB_GAP = 4 * wn.GUARANTEE
SAMPLED_GAP = 8  # x scale x window in a sampled index: kept fingerprints are ~scale times sparser
# (flow, destination, run) variant tallies kept, least recent let go first: each is a few sets, and
# most hold a chance match or two
MAX_VARIANT_TALLIES = 1 << 16


@dataclass
class _Acc:
    kind: str
    channel: str
    flow: str
    destination: str
    run_id: str = ""
    rel: str = ""
    key: tuple[str, ...] = ()
    severity: str = "info"
    t_first: float = float("inf")
    t_last: float = float("-inf")
    bytes_out: int = 0
    chain: list[str] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)  # per evidence kind, the first view's
    samples: set[str] = field(default_factory=set)
    identifiers: dict[str, str] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    files: dict[str, _FileEvidence] = field(default_factory=dict)  # byte evidence per run file
    view_bytes: int = 0  # view bytes that matched any run file (a place several files share: once)
    bitmap: np.ndarray | None = None  # matched k-mers of the run (sequence evidence)
    seq_matched: np.ndarray | None = None  # k-mers the bitmap marks, per sample set of the index
    seq_bases: int = 0
    seq_windows: int = 0
    seq_samples: set[str] = field(default_factory=set)
    seq_index: int = -1  # the index whose k-mers the bitmap marks
    variants: VariantTally | None = None  # variant records, once they are a leak
    last_payload: int = 0  # the payload last counted in bytes_out (a payload's views count once)
    version: int = 0

    def touch(self, payload: Payload | Observation, chain: Sequence[str], evidence: str = "") -> None:
        self.t_first = min(self.t_first, payload.t_first)
        self.t_last = max(self.t_last, payload.t_last)
        if not self.chain:
            self.chain = list(chain)
        if evidence and evidence not in self.chains:
            self.chains[evidence] = list(chain)
        self.version += 1

    def add_evidence(self, row: dict[str, Any]) -> None:
        if sum(e.get("kind") == row.get("kind") for e in self.evidence) < MAX_EVIDENCE:
            self.evidence.append(row)

    def kinds(self) -> list[str]:
        """The evidence kinds seen, strongest first."""
        seen = {"run-bytes": bool(self.files), "sequence": self.bitmap is not None,
                "variants": self.variants is not None, "identifier": bool(self.identifiers)}
        return [k for k in EVIDENCE_KINDS if seen[k]]


@dataclass
class _FileEvidence:
    """Byte evidence on one run file: per stream (0 raw, 1 decoded) the file ranges matched and
    the view bytes that matched them (a view place repeated in the file counts once)."""

    samples: list[str]
    ranges: dict[int, IntervalSet] = field(default_factory=dict)
    view_bytes: dict[int, int] = field(default_factory=dict)

    def proven(self, stream: int) -> int:
        """Bytes of the stream shown present: its matched ranges, at most what the views carried."""
        return min(self.ranges[stream].total(), self.view_bytes.get(stream, 0))


class Correlator:
    def __init__(self, indexes: list[RunIndex], allow: Iterable[str] = (),
                 opaque_threshold: int | None = None):
        self.indexes = list(indexes)
        self.allow = AllowList(allow)
        self._matchers = [IdentifierMatcher(ix.identifiers) for ix in self.indexes]
        self._sample_totals: dict[int, dict[str, int]] = {}  # per index, when a sequence finding needs it
        self._files = [{f.rel: f for f in ix.files} for ix in self.indexes]
        self._by_run = {ix.run_id: i for i, ix in enumerate(self.indexes)}
        self._redactor = Redactor(self.indexes)
        if opaque_threshold is None:
            run_bytes = sum(ix.total_bytes for ix in self.indexes)
            smallest = min((f.size for ix in self.indexes for f in ix.files
                            if f.kind in OPAQUE_WHOLE_FILE_KINDS and f.size > 0), default=OPAQUE_MAX)
            opaque_threshold = max(OPAQUE_MIN, min(OPAQUE_MAX, int(run_bytes * OPAQUE_RUN_SHARE), smallest))
        self.opaque_threshold = opaque_threshold
        self._acc: dict[tuple[str, ...], _Acc] = {}
        self._seen: dict[str, tuple[int, str]] = {}
        self._withdrawn: list[str] = []
        self.scanned_bytes = 0
        self._payload_no = 0  # numbers payloads so each counts once in a finding's bytes_out
        self._to_destination: dict[tuple[str, str], tuple[int, int]] = {}  # (bases, bytes) per destination, run
        self._encrypted_flows: dict[tuple[str, str], set[str]] = {}   # (channel, destination) -> flows with one
        self.opaque = OpaqueBook()     # opaque volume per flow and destination (its findings are made from it)
        self._unvouched: OrderedDict[str, frozenset[str]] = OrderedDict()   # flow -> names nobody vouched for
        self._unvouched_overflow = False
        self._variant_tallies: OrderedDict[tuple[str, str, str], VariantTally] = OrderedDict()
        # what the flows to a (destination, run) sent together, and those where that is a leak
        self._variant_destinations: dict[tuple[str, str], VariantCounts] = {}
        self._variant_leak_destinations: set[tuple[str, str]] = set()

    # --- content ------------------------------------------------------------------------------
    def scan(self, payload: Payload, views: list[View]) -> None:
        """Match every view of an outbound payload against every run index."""
        if payload.direction != "out":
            return
        self._payload_no += 1
        token = self._payload_no
        for n, view in enumerate(views):
            self.scanned_bytes += len(view.data)
            base = payload.stream_offset if n == 0 and payload.stream_offset is not None else None
            self._scan_bytes(payload, view, base, token)
            self._scan_sequence(payload, view, token)
            # letter case means nothing to either: one lowered copy, read while it is in the cache
            lowered = lower(view.data)
            self._scan_identifiers(payload, view, token, lowered)
            self._scan_variants(payload, view, token, lowered)

    def _acc_for(self, payload: Payload | Observation, kind: str, run_id: str = "", rel: str = "") -> _Acc:
        key = (payload.flow, payload.destination, kind, run_id, rel)
        acc = self._acc.get(key)
        if acc is None:
            acc = self._acc[key] = _Acc(kind, payload.channel, payload.flow, payload.destination, run_id, rel,
                                        key)
        return acc

    def _count_payload(self, acc: _Acc, payload: Payload, token: int) -> None:
        if token != acc.last_payload:  # payloads are numbered in arrival order
            acc.last_payload = token
            acc.bytes_out += len(payload.data)

    def _scan_bytes(self, payload: Payload, view: View, base: int | None, token: int) -> None:
        if len(view.data) < wn.K:
            return
        if len(view.data) <= wn.SPAN:  # one pass (most views): its arrays as they are
            hashes, qpos = wn.winnow(view.data)
        else:
            hashes, qpos = wn.view_fingerprints(view.data)
        if not len(hashes):
            return
        for ix in self.indexes:
            hit, lo, hi = ix.lookup_fingerprints(hashes)
            if not len(hit):
                continue
            counts = hi - lo
            rows = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
            q = np.repeat(qpos[hit], counts)
            loc = np.asarray(ix.fp_loc[rows], dtype=np.int64)
            foff = np.asarray(ix.fp_off[rows], dtype=np.int64)
            self._record_segments(ix, payload, view, base, token, q, loc, foff)

    def _record_segments(self, ix: RunIndex, payload: Payload, view: View, base: int | None, token: int,
                         q: np.ndarray, loc: np.ndarray, foff: np.ndarray) -> None:
        gap = SEGMENT_GAP if ix.fp_scale == 1 else SEGMENT_GAP * SAMPLED_GAP * ix.fp_scale
        q, loc, foff, first, last = _segments(q, loc, foff, gap)
        if len(q) > 1:
            best = _attribute(q, loc, first, last, one_per_file=len(first) < len(q))
            q, loc, foff, first, last = _segments(q[best], loc[best], foff[best], gap)
            best = _absorb(q, loc, first, last)
            if len(best) < len(q):
                q, loc, foff, first, last = _segments(q[best], loc[best], foff[best], gap)
        acc = self._acc_for(payload, RUN_CONTENT, ix.run_id)
        acc.touch(payload, view.chain, "run-bytes")
        self._count_payload(acc, payload, token)
        acc.view_bytes += _union_length(q[first], q[last] + wn.K)
        for fid_stream in np.unique(loc[first]).tolist():
            sel = first[loc[first] == fid_stream]
            sel_last = last[loc[first] == fid_stream]
            f = ix.files[fid_stream >> 1]
            stream = fid_stream & 1
            ev = acc.files.get(f.rel)
            if ev is None:
                ev = acc.files[f.rel] = _FileEvidence(list(f.samples))
            fstart, fend = foff[sel], foff[sel_last] + wn.K
            ev.ranges.setdefault(stream, IntervalSet()).add(fstart, fend)
            ev.view_bytes[stream] = ev.view_bytes.get(stream, 0) + _union_length(q[sel], q[sel_last] + wn.K)
            for a, b, c, d in zip(q[sel].tolist(), (q[sel_last] + wn.K).tolist(), fstart.tolist(),
                                  fend.tolist(), strict=True):
                row = {"kind": "run-bytes", "chain": list(view.chain), "view_range": [a, b], "file": f.rel,
                       "stream": "decoded" if stream else "raw", "file_range": [c, d],
                       "preview": preview(view.data[a:b])}
                if base is not None:
                    row["stream_range"] = [base + a, base + b]
                acc.add_evidence(row)

    def _scan_sequence(self, payload: Payload, view: View, token: int) -> None:
        if not any(len(ix.km) for ix in self.indexes):
            return
        for start in range(0, max(1, len(view.data) - SEQ_OVERLAP), SEQ_PIECE):
            piece = view.data[start:start + SEQ_PIECE + SEQ_OVERLAP] if len(view.data) > SEQ_PIECE else view.data
            vk = view_kmers(piece)
            if vk is not None:
                self._match_sequence(payload, view, token, vk, start)
            for recoding, recoded, which in recoded_kmers(piece, vk, self.indexes):
                self._match_sequence(payload, view, token, recoded, start, recoding, which)

    def _match_sequence(self, payload: Payload, view: View, token: int, vk: ViewKmers, base: int,
                        recoding: Recoding | None = None, which: Sequence[int] | None = None) -> None:
        for i, ix in enumerate(self.indexes):
            if which is not None and i not in which:
                continue
            hit = match_sequence(ix, vk)
            if hit is None:
                continue
            acc = self._acc_for(payload, RUN_CONTENT, ix.run_id)
            acc.touch(payload, view.chain, "sequence")
            self._count_payload(acc, payload, token)
            if acc.bitmap is None:
                acc.bitmap = np.zeros(len(ix.km) // 8 + 1, dtype=np.uint8)
                acc.seq_matched = np.zeros(len(ix.sample_sets), dtype=np.int64)
            # counted as they are marked, so a finding never unpacks the bitmap (a live session
            # asks for findings every flush)
            hit_sids = np.asarray(ix.km_sid[hit.rows])
            new = _set_bits(acc.bitmap, hit.rows)
            acc.seq_matched += np.bincount(hit_sids[new], minlength=len(ix.sample_sets))
            sids = sorted_unique(hit_sids)
            for sid in sids.tolist():
                acc.seq_samples.update(ix.sample_sets[sid])
            acc.seq_bases += hit.bases
            acc.seq_windows += hit.windows
            acc.seq_index = i
            at = base + vk.runs.view_offset(hit.first)
            end = at + hit.bases if recoding is None else base + vk.runs.view_offset(hit.first + hit.bases)
            row = {"kind": "sequence", "chain": list(view.chain), "view_range": [at, end],
                   "kmers": int(len(hit.rows)), "bases": hit.bases, "preview": preview(view.data[at:end])}
            if recoding is not None:
                row["recoded"] = str(recoding)
            acc.add_evidence(row)

    def _scan_identifiers(self, payload: Payload, view: View, token: int, lowered: bytearray) -> None:
        for ix, matcher in zip(self.indexes, self._matchers, strict=True):
            found = matcher.find(view.data, lowered)
            if not found:
                continue
            acc = self._acc_for(payload, RUN_CONTENT, ix.run_id)
            acc.touch(payload, view.chain, "identifier")
            self._count_payload(acc, payload, token)
            for start, end, ident, encoding in found:
                if ident["value"] not in acc.identifiers:
                    row = {"kind": "identifier", "chain": list(view.chain), "view_range": [start, end],
                           "identifier": ident["kind"]}
                    if encoding:
                        row["encoding"] = encoding
                    acc.add_evidence(row)
                acc.identifiers[ident["value"]] = ident["kind"]
                acc.samples.update(ident.get("samples", ()))

    def _scan_variants(self, payload: Payload, view: View, token: int, lowered: bytearray) -> None:
        for ix in self.indexes:
            hits, listed = find_variants(ix, lowered)
            if hits is None and listed is None:
                continue
            tally = self._tally_for(payload, ix.run_id)
            where = (payload.destination, ix.run_id)
            dest = self._variant_destinations.setdefault(where, VariantCounts())
            rows = []
            if hits is not None:
                new_hits, new_decoys = tally.add(ix, hits)
                dest.paired += new_hits
                dest.paired_decoys += new_decoys
                if len(hits.positions):
                    rows.append({"kind": "variants", "chain": list(view.chain), "view_range": list(hits.span),
                                 "variants": int(len(hits.positions))})
            if listed is not None:
                new_hits, new_decoys = tally.add_listed(*listed)
                dest.alone += new_hits
                dest.alone_decoys += new_decoys
                if len(listed[0]):
                    rows.append({"kind": "variants", "chain": list(view.chain), "view_range": [0, len(view.data)],
                                 "positions_alone": int(len(listed[0]))})
            tally.t_first = min(tally.t_first, payload.t_first)
            tally.t_last = max(tally.t_last, payload.t_last)
            if token != tally.last_payload:
                tally.last_payload = token
                tally.bytes_out += len(payload.data)
            if rows:
                tally.chain = tally.chain or list(view.chain)
                if not tally.passed:
                    tally.evidence += rows[:MAX_EVIDENCE - len(tally.evidence)]
            if where not in self._variant_leak_destinations and dest.leaks():
                self._variant_leak_destinations.add(where)     # the flows to it together: each is part of it
                for other in self._variant_tallies.values():
                    if (other.destination, other.run_id) == where and (
                            other.positions or other.listed):
                        self._variant_leak(other)
            if tally.passed:
                acc = self._variant_leak(tally)
                acc.touch(payload, view.chain, "variants")
                self._count_payload(acc, payload, token)
                for row in rows:
                    acc.add_evidence(row)
            elif (tally.positions or tally.listed) and (where in self._variant_leak_destinations
                                                        or tally.counts().leaks()):
                self._variant_leak(tally)

    def _tally_for(self, payload: Payload, run_id: str) -> VariantTally:
        """The variant tally of (flow, destination, run): kept least recent first, at most
        MAX_VARIANT_TALLIES; a leak's own, let go, is taken up again."""
        key = (payload.flow, payload.destination, run_id)
        tally = self._variant_tallies.get(key)
        if tally is None:
            leak = self._acc.get((payload.flow, payload.destination, RUN_CONTENT, run_id, ""))
            tally = leak.variants if leak is not None and leak.variants is not None else VariantTally(
                payload.channel, payload.flow, payload.destination, run_id)
            self._variant_tallies[key] = tally
            if len(self._variant_tallies) > MAX_VARIANT_TALLIES:
                self._variant_tallies.popitem(last=False)
        self._variant_tallies.move_to_end(key)
        return tally

    def _variant_leak(self, tally: VariantTally) -> _Acc:
        """The tally's variants are a leak: they join its flow's run-content finding (returned)."""
        acc = self._acc_for(_Tallied(tally), RUN_CONTENT, tally.run_id)
        if not tally.passed:
            tally.passed = True
            acc.t_first, acc.t_last = min(acc.t_first, tally.t_first), max(acc.t_last, tally.t_last)
            acc.chain = acc.chain or list(tally.chain)
            acc.chains.setdefault("variants", list(tally.chain))
            acc.bytes_out = max(acc.bytes_out, tally.bytes_out)
            acc.last_payload = max(acc.last_payload, tally.last_payload)
            acc.variants = tally
            for row in tally.evidence:
                acc.add_evidence(row)
            tally.evidence = []
            acc.version += 1
        return acc

    # --- what content cannot show --------------------------------------------------------------
    def observe(self, obs: Observation) -> None:
        """A protocol observation (DNS tunnel, bad input, ...) becomes a finding of its own kind."""
        if obs.kind == "encrypted":
            flows = self._encrypted_flows.setdefault((obs.channel, obs.destination), set())
            if obs.flow not in flows and len(flows) >= MAX_ENCRYPTED_FLOWS:
                acc = self._acc_for(replace(obs, flow=""), obs.kind)      # the rest, together
                acc.detail["flows"] = acc.detail.get("flows", 0) + 1
            else:
                flows.add(obs.flow)
                acc = self._acc_for(obs, obs.kind)
        else:
            acc = self._acc_for(obs, obs.kind)
        acc.touch(obs, obs.chain)
        acc.bytes_out += obs.bytes_out
        floor = "medium" if obs.kind == "dns-tunnel" else "info"
        sev = max(obs.severity, floor, key=severity_rank) if obs.severity in _RANKS else floor
        acc.severity = max(acc.severity, sev, key=severity_rank)
        for key, value in obs.detail.items():
            if key in _SUMMED and isinstance(value, int):
                acc.detail[key] = acc.detail.get(key, 0) + value
            else:
                acc.detail[key] = value

    def flows(self, flow_infos: list[FlowInfo]) -> None:
        """Volume and destination findings from the flow table (call at the end, or periodically)."""
        for info in flow_infos:
            judged = self.allow.judge(info)
            self._note_claims(info.flow, judged.unvouched)
            allowed = bool(self.allow) and judged.allowed
            info.meta["allowed"] = allowed
            if allowed:
                self.opaque.allowed(info.flow)
            if allowed or (info.bytes_out <= 0 and info.sealed_out <= 0):
                continue
            # never named by an allowed name: it names allowed places only, but nobody vouched for its
            # address, or it names an unlisted place besides
            dest = judged.name
            named_unvouched = host_of(dest) in judged.unvouched
            self.opaque.judge(info, dest, unverified=named_unvouched)
            if self.allow:
                acc = self._acc_for(_Where(info, dest, flow=""), "destination")
                self._flow_facts(acc, info, "low")
                if named_unvouched:
                    acc.detail["unverified"] = True
                if judged.unverified:
                    names = acc.detail.setdefault("unverified_names", [])
                    names += [n for n in judged.claimed if n not in names][:MAX_FLOWS_LISTED - len(names)]
                flows = acc.detail.setdefault("flows", {})
                if info.flow in flows or len(flows) < MAX_FLOWS_LISTED:
                    flows[info.flow] = info.bytes_out
                acc.detail["flow_count"] = len(flows) if len(flows) < MAX_FLOWS_LISTED else max(
                    acc.detail.get("flow_count", 0), len(flows))
                acc.bytes_out = sum(flows.values())
                if not acc.flow:
                    acc.flow = info.flow

    def _note_claims(self, flow: str, names: frozenset[str]) -> None:
        """The names ``flow`` claims that nobody vouched for (``FlowJudgement.unvouched``)."""
        if names:
            self._unvouched[flow] = names
            self._unvouched.move_to_end(flow)
            if len(self._unvouched) > MAX_UNVOUCHED_FLOWS:
                self._unvouched.popitem(last=False)
                self._unvouched_overflow = True
        else:
            self._unvouched.pop(flow, None)

    def _unverified(self, a: _Acc) -> bool:
        """Whether ``a`` is named by a name its flow claimed and nobody vouched for (the instrument's
        word alone): a waiver by destination does not match it (``report.profile.Waiver``)."""
        return (self._unvouched_overflow or a.detail.get("unverified", False)
                or host_of(a.destination) in self._unvouched.get(a.flow, ()))

    def unopened(self, payload: Payload, size: int) -> None:
        """``size`` bytes of an outbound payload's content look like ciphertext no decoder opened:
        they weigh in its flow's opaque volume."""
        self.opaque.unopened(payload.flow, payload.channel, payload.destination, size)

    def close(self) -> None:
        """The traffic ended: opaque content of flows the flow table folded away before judging it counts."""
        self.opaque.close()

    def unreadable(self) -> list[NotExamined]:
        """What the opaque-volume findings leave unexamined (rows of the report's not_examined)."""
        return self.opaque.unreadable(self.opaque_threshold)

    def _opaque_findings(self) -> None:
        """An opaque-volume finding for each destination whose flows carried enough the rig could not
        read, and one for what destinations each below that carried together (withdrawn when they no
        longer reach it: a destination of it then has its own)."""
        tallies = [t for t in self.opaque.tallies.values() if t.total >= self.opaque_threshold]
        spread = self.opaque.spread(self.opaque_threshold)
        if spread is None:
            self._acc.pop(("", SPREAD, "opaque-volume", "", ""), None)
        for tally in tallies + ([spread] if spread else []):
            key = ("", tally.destination, "opaque-volume", "", "")
            acc = self._acc.get(key)
            if acc is None:
                acc = self._acc[key] = _Acc("opaque-volume", tally.channel, tally.first_flow, tally.destination,
                                            key=key, severity="medium", chain=list(tally.chain))
            if (acc.flow, acc.t_first, acc.t_last, acc.bytes_out) != (tally.first_flow, tally.t_first, tally.t_last,
                                                                     tally.total):
                acc.flow, acc.channel, acc.chain = tally.first_flow, tally.channel, list(tally.chain)
                acc.t_first, acc.t_last, acc.bytes_out = tally.t_first, tally.t_last, tally.total
                acc.version += 1
            acc.detail.update({"threshold": self.opaque_threshold, "app": tally.app, "sni": tally.sni,
                               "flows": tally.flows, "unopened": tally.unopened})
            if tally.unverified:
                acc.detail["unverified"] = True
            if tally is spread:
                acc.detail.update({"destinations": spread.destinations, "largest": dict(spread.listed)})

    def _flow_facts(self, acc: _Acc, info: FlowInfo, severity: str) -> None:
        before = (acc.t_first, acc.t_last, acc.bytes_out)
        acc.t_first = min(acc.t_first, info.t_first)
        acc.t_last = max(acc.t_last, info.t_last)
        acc.severity = max(acc.severity, severity, key=severity_rank)
        if not acc.chain:   # a carried flow's chain starts with its carrier's (usb 1.6 > rndis, serial > ppp)
            via = info.meta.get("via")
            acc.chain = (via.split(" > ") if via else []) + [info.transport] + ([info.app] if info.app else [])
        if (acc.t_first, acc.t_last, acc.bytes_out) != before or acc.version == 0:
            acc.version += 1

    # --- findings ------------------------------------------------------------------------------
    def findings(self) -> list[Finding]:
        self._opaque_findings()
        content_flows = {a.flow for a in self._acc.values() if a.kind == RUN_CONTENT
                         and (a.files or a.bitmap is not None or a.variants is not None)}
        # run content each destination got over all its flows (a DNS tunnel is a flow per query)
        self._to_destination = {}
        for a in self._acc.values():
            if a.kind == RUN_CONTENT:
                bases, places = self._to_destination.get((a.destination, a.run_id), (0, 0))
                self._to_destination[(a.destination, a.run_id)] = (bases + a.seq_bases, places + a.view_bytes)
        # the traffic's own strings leave the core here (store, reports, terminal): run data in them
        # is redacted once, for all of those
        out = self._redactor.findings([self._finding(a, content_flows) for a in self._acc.values()])
        out.sort(key=lambda f: (-severity_rank(f.severity), f.t_first, f.id))
        for gone in self._seen.keys() - {f.id for f in out}:     # given by changed(), findings no more
            del self._seen[gone]
            self._withdrawn.append(gone)
        return out

    def changed(self) -> list[Finding]:
        """Findings new or changed since the last call (for a live dashboard); the ids of those it gave
        that are findings no more (a withdrawn spread) wait in ``take_withdrawn``."""
        out = []
        for f in self.findings():
            state = (f.bytes_matched, f.severity, f.t_last, f.bytes_out, len(f.evidence), len(f.identifiers))
            if self._seen.get(f.id) != state:
                self._seen[f.id] = state
                out.append(f)
        return out

    def take_withdrawn(self) -> list[str]:
        """Ids of findings ``changed`` gave that are no longer findings, since the last call."""
        gone, self._withdrawn = self._withdrawn, []
        return gone

    def state_bytes(self) -> int:
        """Approximate memory of the correlator's per-flow state (ranges, bitmaps, evidence)."""
        total = 0
        for a in self._acc.values():
            for ev in a.files.values():
                total += sum(r.starts.nbytes + r.ends.nbytes for r in ev.ranges.values()) + 200
            total += a.bitmap.nbytes if a.bitmap is not None else 0
            total += 200 * len(a.evidence) + 300
        for t in self._variant_tallies.values():
            total += 60 * (len(t.positions) + len(t.decoys) + len(t.listed) + len(t.listed_decoys))
            total += 200 * len(t.evidence) + 300
        return total

    def _finding(self, a: _Acc, content_flows: set[str]) -> Finding:
        severity = a.severity
        samples = set(a.samples)
        files: list[FileMatch] = []
        bytes_matched = 0
        detail = dict(a.detail)
        kind = a.kind
        kinds = [a.kind]
        chain = a.chain
        if a.kind == RUN_CONTENT:
            kinds = a.kinds()
            i = self._by_run[a.run_id]
            ranked = []  # (severity, kind) of each evidence kind
            proven, seq_samples = 0, set()
            if a.bitmap is not None:
                seq_samples, bases, sev = self._sequence_evidence(a, detail)
                ranked.append((sev, "sequence"))
                samples.update(seq_samples)
                proven = bases
            if a.files:
                files, total, sev = self._byte_evidence(i, a)
                ranked.append((sev, "run-bytes"))
                samples.update(self._byte_samples(a, files, seq_samples))
                proven = max(proven, total)
            if a.variants is not None:
                sev, matched = self._variant_evidence(i, a.variants, detail)
                ranked.append((sev, "variants"))
                samples.update(s for sid in a.variants.sids for s in self.indexes[i].sample_sets[sid])
                proven = max(proven, matched)
            if a.identifiers:
                ranked.append(("medium", "identifier"))
            severity, kind = max(ranked, key=lambda r: (severity_rank(r[0]), -EVIDENCE_KINDS.index(r[1])))
            chain = a.chains.get(kind, a.chain)  # how the strongest evidence was wrapped
            bases, view_bytes = self._to_destination.get((a.destination, a.run_id), (0, 0))
            if severity == "medium" and kind != "identifier" and (
                    bases > SINGLE_READ_BASES or view_bytes >= HIGH_MIN_BYTES and view_bytes > a.view_bytes):
                severity = "high"  # small on this flow, but its destination got more over others
                detail["destination_content"] = {"bases": bases, "bytes": view_bytes}
            bytes_matched = min(proven, a.bytes_out)
            detail["floor"] = self.indexes[i].detection_floor()["text"]
        elif a.kind == "dns-tunnel" and a.flow in content_flows:
            severity = max(severity, "high", key=severity_rank)
        key = "\x1f".join(a.key)
        if self._unverified(a):
            detail["unverified"] = True
        return Finding(
            id=hashlib.sha1(key.encode()).hexdigest()[:16], severity=severity, kind=kind,
            channel=a.channel, flow=a.flow, destination=a.destination,
            t_first=a.t_first if a.t_first != float("inf") else 0.0,
            t_last=a.t_last if a.t_last != float("-inf") else 0.0, bytes_out=a.bytes_out,
            bytes_matched=bytes_matched, run_id=a.run_id, samples=sorted(samples), files=files,
            chain=list(chain), identifiers=sorted(a.identifiers), evidence=list(a.evidence),
            detail=detail, evidence_kinds=kinds,
        )

    def _byte_evidence(self, i: int, a: _Acc) -> tuple[list[FileMatch], int, str]:
        """Per file the bytes proven present and their share (the better-covered stream: raw or
        decoded), the bytes proven in all (at most what the views carried), and their severity."""
        files, big, total = [], False, 0
        for rel, ev in a.files.items():
            f = self._files[i][rel]
            best, share = 0, 0.0
            for stream in ev.ranges:
                proven = ev.proven(stream)
                best = max(best, proven)
                share = max(share, min(1.0, proven / (f.stream_len(stream) or 1)))
            files.append(FileMatch(rel, best, round(share, 6)))
            big |= share >= CRITICAL_SHARE and f.size >= CRITICAL_MIN_FILE
            total += best
        total = min(total, a.view_bytes)  # a view place several files share proves its bytes once
        files.sort(key=lambda m: (-m.bytes_matched, m.path))
        if big or total >= CRITICAL_BYTES:
            return files, total, "critical"
        return files, total, "high" if total >= HIGH_MIN_BYTES else "medium"

    @staticmethod
    def _byte_samples(a: _Acc, files: list[FileMatch], seq_samples: set[str]) -> set[str]:
        """Samples the byte evidence names: those of the files proven to hold HIGH_MIN_BYTES or
        more, else of the best-covered ones (a lone k-gram several files share names them all,
        unless the sequence evidence says which of them it was)."""
        best = files[0].bytes_matched
        named = [m for m in files if m.bytes_matched >= HIGH_MIN_BYTES] or [m for m in files if m.bytes_matched == best]
        sets = [set(a.files[m.path].samples) for m in named]
        if seq_samples and any(s & seq_samples for s in sets):
            sets = [s for s in sets if s & seq_samples]
        return set().union(*sets)

    def _variant_evidence(self, i: int, tally: VariantTally, detail: dict[str, Any]) -> tuple[str, int]:
        """Severity of matched variants (critical from half the run's positions) and their bytes;
        the counts go to ``detail``."""
        positions = len(self.indexes[i].var_pos)
        detail["variants"] = {"matched": len(tally.positions), "run_positions": positions,
                              "decoys_met": len(tally.decoys)}
        if tally.listed:
            detail["variants"].update({"positions_alone": len(tally.listed), "decoys_met_alone": len(tally.listed_decoys)})
        critical = max(len(tally.positions), len(tally.listed)) >= CRITICAL_SHARE * positions
        alone = sum(len(str(p)) for p in tally.listed - tally.positions)       # their digits
        return ("critical" if critical else "high"), tally.matched_bytes + alone

    def _sequence_evidence(self, a: _Acc, detail: dict[str, Any]) -> tuple[set[str], int, str]:
        """The samples the matched k-mers name, the bases proven, the severity; k-mer counts and
        shares go to ``detail``."""
        i = a.seq_index
        ix = self.indexes[i]
        matched = a.seq_matched
        kmers = int(matched.sum())
        shares = {}
        for sid, n in enumerate(matched.tolist()):
            for s in ix.sample_sets[sid]:
                shares[s] = shares.get(s, 0) + n
        # samples sharing a genome share most k-mers; the ones only a sample has say which it was
        exclusive = {ix.sample_sets[sid][0]: n for sid, n in enumerate(matched.tolist())
                     if n and len(ix.sample_sets[sid]) == 1}
        floor = max(MIN_EXCLUSIVE_KMERS, EXCLUSIVE_SHARE * kmers)
        if any(n >= floor for n in exclusive.values()):
            samples = {s for s, n in exclusive.items() if n >= floor}
        else:
            samples = set(a.seq_samples)
        if i not in self._sample_totals:
            self._sample_totals[i] = ix.sample_kmer_totals()
        totals = self._sample_totals[i]
        share = {s: round(n / totals[s], 6) for s, n in shares.items() if n and totals.get(s)}
        detail.update({"exclusive_kmers": exclusive, "kmers": kmers, "windows": a.seq_windows,
                       "sample_share": share})
        if (share and max(share.values()) >= CRITICAL_SHARE) or a.seq_bases >= CRITICAL_BYTES:
            return samples, a.seq_bases, "critical"
        return samples, a.seq_bases, "medium" if a.seq_bases <= SINGLE_READ_BASES else "high"


_RANKS = frozenset(("info", "low", "medium", "high", "critical"))
# Observation details that add up over a finding's observations (a decode-limit finding says how
# many bytes all its limit hits left unexamined), where other details keep the latest value.
_SUMMED = frozenset(("bytes_not_examined", "bytes_in"))


@dataclass
class _Where:
    """A FlowInfo seen as the (flow, destination, channel) a finding is keyed by."""

    info: FlowInfo
    destination: str
    flow: str | None = None

    def __post_init__(self) -> None:
        if self.flow is None:
            self.flow = self.info.flow
        self.channel = self.info.channel


@dataclass
class _Tallied:
    """A VariantTally seen as the (flow, destination, channel) a finding is keyed by."""

    tally: VariantTally

    def __post_init__(self) -> None:
        self.flow, self.destination, self.channel = self.tally.flow, self.tally.destination, self.tally.channel


def _union_length(starts: np.ndarray, ends: np.ndarray) -> int:
    """Bytes covered by the union of ranges [starts, ends)."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.maximum.accumulate(e)
    gaps = np.maximum(s[1:] - reach[:-1], 0).sum() if len(s) > 1 else 0
    return int(reach[-1] - s[0] - gaps) if len(s) else 0


def _set_bits(bitmap: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Set bit ``row`` (little-endian within bytes) for sorted distinct rows, one OR per byte;
    returns the mask of the rows whose bit was not set before."""
    if not len(rows):
        return np.zeros(0, dtype=bool)
    byte = rows >> 3
    new = (bitmap[byte] >> (rows & 7).astype(np.uint8)) & 1 == 0
    starts = np.flatnonzero(np.concatenate(([True], byte[1:] != byte[:-1])))
    bits = np.left_shift(1, rows & 7).astype(np.uint8)
    bitmap[byte[starts]] |= np.bitwise_or.reduceat(bits, starts)
    return new


def _attribute(q: np.ndarray, loc: np.ndarray, first: np.ndarray, last: np.ndarray,
               one_per_file: bool = True) -> np.ndarray:
    """Rows (of ``_segments`` output) that name the file stream each view place came from.

    Repeated content (overlapping reads, the read-header prefix, "+" lines and gzip headers every
    FASTQ of a run shares) maps one view place to places in several files.  A file explains the
    view by the places only it matches ("exclusive" places); per view place the candidates with
    the longest segment win, ties go to the file with the most exclusive places (counted from
    EXPLAINS_PLACES on), and a file with no exclusive place at all is dropped when another file
    has that many: its matches are only what the files of the run share.  When no file has that
    much (a short fragment whose only fingerprint is shared) every tied file stays: the evidence
    cannot tell them apart, and the true file is among them.
    With ``one_per_file`` a winning file keeps one place per view place (the view has chained
    segments, so repeats elsewhere in the file are not what leaked); without it, when no match
    chains, every tied place stays, the true one among them.
    """
    size = np.repeat(last - first + 1, last - first + 1)
    order = _lexsort3(-size, loc, q)  # by view place, file stream, longest segment first
    qs, ls, ss = q[order], loc[order], size[order]
    q_new = np.concatenate(([True], qs[1:] != qs[:-1]))
    pair = q_new | np.concatenate(([True], ls[1:] != ls[:-1]))
    qp, lp, sp = qs[pair], ls[pair], ss[pair]  # one (longest) row per view place and file stream
    starts = np.flatnonzero(q_new[pair])
    per_place = np.diff(np.append(starts, len(qp)))
    streams, lid = np.unique(lp, return_inverse=True)
    exclusive = np.repeat(per_place == 1, per_place)
    strength = np.bincount(lid[exclusive], minlength=len(streams)).astype(np.int64)
    explains = np.where(strength >= EXPLAINS_PLACES, strength, 0)
    score = sp.astype(np.int64) * (int(explains.max()) + 1) + explains[lid]
    keep = score == np.repeat(np.maximum.reduceat(score, starts), per_place)
    if explains.max() > 0:
        keep &= strength[lid] > 0
    if one_per_file:
        return order[pair][keep]
    pair_id = np.cumsum(pair) - 1
    return order[keep[pair_id] & (ss == sp[pair_id])]


def _absorb(q: np.ndarray, loc: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Rows to keep once the files whose every match is an isolated place inside the view's main
    file (the one with most matched places) are dropped (see ABSORB_GAP)."""
    streams, lid = np.unique(loc, return_inverse=True)
    if len(streams) < 2:
        return np.arange(len(q))
    main = int(np.argmax(np.bincount(lid)))
    main_q = np.unique(q[lid == main])
    isolated = np.bincount(lid[first], weights=last - first + 1, minlength=len(streams)) == np.bincount(
        lid[first], minlength=len(streams))  # every segment of the file is one place
    i = np.searchsorted(main_q, q)
    inner = (i > 0) & (i < len(main_q))
    inside = np.zeros(len(q), dtype=bool)
    inside[inner] = main_q[i[inner]] - main_q[i[inner] - 1] <= ABSORB_GAP
    outside_any = np.bincount(lid[~inside], minlength=len(streams)) > 0
    drop = isolated & ~outside_any
    drop[main] = False
    return np.flatnonzero(~drop[lid])


def _segments(q: np.ndarray, loc: np.ndarray, foff: np.ndarray, gap: int):
    """Sort matches by (file stream, diagonal, view place) and cut them into contiguous segments:
    returns the sorted arrays and each segment's first and last row."""
    diag = foff - q
    order = _lexsort3(q, diag, loc, stable=False)  # (file stream, diagonal, view place): unique
    q, loc, foff, diag = q[order], loc[order], foff[order], diag[order]
    new = np.ones(len(q), dtype=bool)
    new[1:] = (loc[1:] != loc[:-1]) | (diag[1:] != diag[:-1]) | (q[1:] - q[:-1] > gap)
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(q)) - 1
    return q, loc, foff, first, last


def _lexsort3(minor: np.ndarray, middle: np.ndarray, major: np.ndarray, stable: bool = True) -> np.ndarray:
    """``np.lexsort((minor, middle, major))`` (int64 keys): as one sort of a packed key when the
    three ranges fit in 63 bits (always, for real files and views), which is several times faster
    than three sort passes; ``stable=False`` (keys known distinct, or equal rows alike) lets numpy
    use its vectorised sort."""
    if len(minor) < 2:
        return np.lexsort((minor, middle, major))
    lows = [int(a.min()) for a in (minor, middle, major)]
    spans = [int(a.max()) - lo + 1 for a, lo in zip((minor, middle, major), lows, strict=True)]
    if spans[0] * spans[1] * spans[2] >= 1 << 63:
        return np.lexsort((minor, middle, major))
    key = (major - lows[2]) * spans[1]
    key += middle - lows[1]
    key *= spans[0]
    key += minor - lows[0]
    bits = len(key).bit_length()
    if spans[0] * spans[1] * spans[2] < 1 << (63 - bits):
        # each key with its row number in the low bits: distinct keys, so one plain (vectorised)
        # sort of values gives the stable order, several times faster than a stable argsort
        key <<= bits
        key |= np.arange(len(key), dtype=key.dtype)
        return np.sort(key) & ((1 << bits) - 1)
    return np.argsort(key, kind="stable" if stable else None)
