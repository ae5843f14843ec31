"""``--block``: the rig's verdicts on what the addon holds (a connection, a request, a message).

The addon asks over a local socket (one JSON line per question, answered by id).  A connection to
a name the allow-list does not hold is refused at once.  Any other connection, and each request or
message, is answered once the session has analysed it: the session calls ``on_findings`` after each
store flush with the findings that changed, the capture time it has fed everything up to, and its
Engine (``FlowBook``).  A question waits until the analysis has had all it is about: one asked
before the previous flush and older than that watermark, whose connection's stream the analysis has
had as many bytes of as the kernel had taken in (``wire``) or whose packet it has had (``recorded``):
the watermark trusts the recorder to write within its writer delay, and a loaded machine may not.
Raw bytes (a TCP or UDP message no protocol frames, a DNS query) wait until their flow has also
handed over what its parser held back (``FlowBook.settled``).  Then it waits for the correlator's
answer to a question asked after that (``FlowBook.covered``): only then are its flow's findings
final enough to judge.

It passes when its flow carries no run data, hit no decoding limit (what the rig could not examine
might be run data), and the allow-list allows the flow as the analysis knows it: every name it
claims listed, and its address vouched for one of them by a DNS answer or the rig's own proxy
(``AllowList.judge``).  So a CONNECT line or server name made of reads is refused before a proxy
resolves it, and a server name the instrument forged for another address (transparent and
WireGuard mode: it picks the address) is refused before that server sees a connection.  Findings
on blocked flows say so (``detail["blocked"]``).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sandbox.correlate.allow import AllowList, is_address
from sandbox.decode.limits import DECODE_LIMIT
from sandbox.model import Finding, FlowInfo
from sandbox.protocols.flows import IDLE_FLUSH
from sandbox.protocols.raw import RAW_FLUSH_SECONDS
from sandbox.session import FlowBook

ENDED = "the session ended before it was judged"
UNSEEN = "the analysis did not have it within 60 s"
MISSED = "the rig could not examine all it sent (the recording missed part of its stream)"
RESENT = "it sent part of its stream again with other bytes: the rig cannot tell which its receiver read"
URGENT = "it marked bytes of its stream urgent: its receiver reads the stream without them"
FORGED = "it sent packets in the far end's name: the rig does not believe what they said"
HOLD_LIMIT_S = 60.0     # as long as the addon waits for an answer
# How much earlier than the kernel's queue stamps a packet the recorder may stamp it (measured: µs).
RECORDED_SLACK_S = 0.001
# Proxy modes where the instrument picks the address a connection goes to (the rest: the proxy
# goes where it is asked, and the name it was asked for is the vouch).
ADDRESS_MODES = ("transparent", "wireguard")
DNS_PORT = 53
# Flows whose verdicts and findings the judge keeps: a flow forgotten was blocked, or carried run
# data, longer ago than this many others were touched (its findings then lack ``detail["blocked"]``).
MAX_FLOWS = 1 << 16
# What makes a request carry run data: content evidence (any severity it has is at least medium).
CONTENT_KINDS = ("run-bytes", "sequence", "variants", "identifier")


def flow_name(client: list, dst: list, transport: str = "tcp") -> str:
    """The Dissector's name of a flow (instrument side first; DNS is one flow per client and resolver)."""
    def fmt(ip: str, port: int | str) -> str:
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    if transport == "udp" and int(dst[1]) == DNS_PORT:
        return f"udp {fmt(client[0], '*')} > {fmt(*dst)}"
    return f"{transport} {fmt(*client)} > {fmt(*dst)}"


# How a verdict reaches whoever asked: allowed, and why not.
Reply = Callable[[bool, str], None]


@dataclass
class _Held:
    reply: Reply
    flow: str
    t: float
    arrived: float
    connect: tuple[list, list, list[str]] | None = None    # a connection: its ends and the names it gave
    raw: bool = False       # bytes no protocol frames: the analysis may hold them back a while
    resolver: bool = False  # a DNS query to a resolver on the bench: judged by its content only
    recorded: float | None = None   # only the raw recording has them: their capture time there
    wire: int | None = None         # the bytes of the instrument's stream the recording must show first
    fed: int | None = None          # once the analysis had all it is about: when its flow last handed it anything


class Judge:
    def __init__(self, allow: list[str]) -> None:
        self.allow = AllowList(allow)
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()
        self.held: list[_Held] = []
        # per flow, the MAX_FLOWS touched last (a flood of refused connections costs no more): why
        # its content may not leave (run data, unexamined); why it was blocked, and that reason as
        # findings say it (redacted); its findings (id -> latest state)
        self.content: OrderedDict[str, str] = OrderedDict()
        self.blocked: OrderedDict[str, str] = OrderedDict()
        self.shown: OrderedDict[str, str] = OrderedDict()
        self.findings: OrderedDict[str, dict[str, Finding]] = OrderedDict()
        self._unshown: list[str] = []         # flows blocked since the last flush
        self.last_flush = 0.0
        self.closed = False

    # -- the addon's side ---------------------------------------------------------------------
    def listen(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        threading.Thread(target=self._accept, name="sandbox-judge", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as f:
            for line in f:
                try:
                    q = json.loads(line)
                    self.ask(q, partial(_answer, conn, q["id"]))
                except (ValueError, KeyError, TypeError, OSError):
                    continue

    def ask(self, q: dict, reply: Reply) -> None:
        """A question (the addon's JSON, or a held packet's): ``reply`` gets the verdict, now or after a
        flush.  ``op``: connect, request or message; ``client``/``dst``: [address, port]; ``transport``;
        ``raw``: bytes no protocol frames; ``t``: when they were sent (``time.time()``); for bytes only
        the raw recording has, ``recorded``: the time it stamps them with (a packet the kernel holds),
        or ``wire``: how many bytes of the instrument's stream it must show first (all the kernel had taken
        in, or on a TLS connection whose plaintext the feed has, up to the end of its handshake)."""
        flow = flow_name(q["client"], q["dst"], q.get("transport", "tcp"))
        resolver = q.get("transport") == "udp" and int(q["dst"][1]) == DNS_PORT and self.allow.trusts(q["dst"][0])
        if q["op"] == "connect" and resolver:
            # the bench's own resolver (WireGuard mode relays DNS): the queries are judged, not the way
            reply(True, "")
            return
        if q["op"] == "connect":
            # every name must be allowed: the server name the instrument sent and the host mitmproxy
            # connects to (regular mode: what the instrument asked the proxy for, an address asked
            # for judged by itself)
            given = [n for n in (q.get("sni"), q.get("host")) if n]
            names = [n for n in given if not is_address(n)]
            chosen = q.get("mode") in ADDRESS_MODES
            unlisted = [n for n in names or ([] if chosen else given) if not self.allow.allows(n)] if self.allow else []
            if unlisted:
                reason = f"unlisted destination {unlisted[0]}"
                with self.lock:
                    self._block(flow, reason)
                reply(False, reason)
            else:
                # it waits for the analysis of what the instrument sent so far: a CONNECT line or a
                # server name can carry run data (a proxy resolving the name would send it on), and
                # where the instrument picks the address, the DNS answers the session has vouch for it
                with self.lock:
                    self.held.append(_Held(reply, flow, float(q["t"]), time.monotonic(),
                                           connect=(q["client"], q["dst"], names) if chosen else None))
            return
        recorded, wire = q.get("recorded"), q.get("wire")
        with self.lock:
            self.held.append(_Held(reply, flow, float(q["t"]), time.monotonic(), raw=bool(q.get("raw")),
                                   resolver=resolver, recorded=float(recorded) if recorded is not None else None,
                                   wire=int(wire) if wire is not None else None))

    # -- the session's side --------------------------------------------------------------------
    def on_findings(self, findings: list[Finding], watermark: float, book: FlowBook) -> None:
        """After a flush: learn what changed, answer what has been analysed, mark what was blocked."""
        now = time.monotonic()
        with self.lock:
            for f in findings:
                for name in _flows_of(f):
                    _keep(self.findings, _base(name), {}, update=False)[f.id] = f
                content = next((k for k in (f.kind, *f.evidence_kinds) if k in CONTENT_KINDS), None)
                if content is not None:      # a DNS tunnel's finding holds the reads as its evidence
                    _keep(self.content, _base(f.flow), f"carries run data ({content}: "
                          f"{', '.join(f.samples) or f.run_id or 'identifiers'})", update=False)
                elif f.kind == DECODE_LIMIT:    # never clean when blind: what it hides does not leave
                    _keep(self.content, _base(f.flow), f"the rig could not examine all it sent "
                          f"({f.detail.get('where') or f.kind})", update=False)
            ready: list[_Held] = []
            waiting: list[_Held] = []
            expired: list[_Held] = []
            for h in self.held:
                if h.fed is None and h.arrived <= self.last_flush and h.t <= watermark and _handed_over(
                        h, watermark, book):
                    h.fed = book.handed(h.flow)     # the analysis had it all: findings asked for after cover it
                if h.fed is not None and book.covered >= h.fed:
                    ready.append(h)
                else:
                    (expired if now - h.arrived > HOLD_LIMIT_S else waiting).append(h)
            self.held = waiting
            for h in expired:       # e.g. a packet the recorder dropped: what the rig never saw does not leave
                self._block(h.flow, UNSEEN)
                h.reply(False, UNSEEN)
            self.last_flush = now
            for h in ready:
                reason = self._refusal(h, book)
                if reason:
                    self._block(h.flow, reason)
                h.reply(not reason, reason)
            self._mark(findings, book)

    def _block(self, flow: str, reason: str) -> None:
        if flow not in self.blocked:
            self._unshown.append(flow)
        _keep(self.blocked, flow, reason, update=False)

    def _mark(self, findings: list[Finding], book: FlowBook) -> None:
        """Findings on blocked flows say why (``detail["blocked"]``): those of this flush, and the ones
        already written for a flow blocked since the last (appended to ``findings``: written again)."""
        fresh = [flow for flow in dict.fromkeys(self._unshown) if flow in self.blocked]
        self._unshown.clear()
        # a reason may quote a name the instrument chose: the store gets it as any finding's text
        for flow, shown in zip(fresh, book.redacted([self.blocked[flow] for flow in fresh]), strict=True):
            _keep(self.shown, flow, shown)
        written = {id(f) for f in findings}
        again = [f for flow in fresh for f in self.findings.get(flow, {}).values() if id(f) not in written]
        for f in [*findings, *again]:
            # a finding over several flows says why its own was blocked, else its first listed
            reason = next((self.shown[n] for n in map(_base, _flows_of(f))
                           if n in self.shown), None)
            if reason is not None and f.detail.get("blocked") != reason:
                f.detail["blocked"] = reason
                if id(f) not in written:
                    findings.append(f)
                    written.add(id(f))

    def _refusal(self, h: _Held, book: FlowBook) -> str:
        """Why ``h``, analysed, may not pass ("" when it may): its flow's run data or blind spots first
        (a DNS query to the bench's resolver is judged by these alone), then the allow-list."""
        info = book.current_flow(h.flow) if h.connect is None else _connecting(*h.connect, book)
        if h.flow in self.content:
            return self.content[h.flow]
        if info is not None and info.forged_in:
            return FORGED
        if info is not None and not info.decrypted:    # never clean when blind
            if info.missed_out:
                return MISSED
            if info.resent_out:
                return RESENT
            if info.urgent_out:
                return URGENT
        return "" if h.resolver else self._unlisted(info)

    def _unlisted(self, info: FlowInfo | None) -> str:
        """Why the allow-list does not allow the flow a held request is on ("" when it does)."""
        if info is None:     # never fed, or folded away: unjudged never passes
            return "the rig has no record of its connection"
        if not self.allow:
            return ""
        judged = self.allow.judge(info)
        if judged.allowed:
            return ""
        if judged.unverified:
            return f"nobody the rig trusts vouched for {info.dst} as {', '.join(judged.claimed)}"
        return f"unlisted destination {judged.name}"

    def close(self) -> None:
        self.closed = True
        with self.lock:
            for h in self.held:     # the session ends: nothing unjudged passes (its last findings say so)
                self._block(h.flow, ENDED)
                h.reply(False, ENDED)
            self.held.clear()
        if self.sock is not None:
            self.sock.close()


def _answer(conn: socket.socket, qid: int, allow: bool, reason: str) -> None:
    """The addon's verdict: one JSON line naming its question."""
    try:
        conn.sendall(json.dumps({"id": qid, "allow": allow, "reason": reason}).encode() + b"\n")
    except OSError:
        pass    # the addon went away: it fails closed by itself


def _handed_over(h: _Held, watermark: float, book: FlowBook) -> bool:
    """Whether the analysis up to ``watermark`` has had all ``h`` is about.  A parser holds a raw
    stream's partial chunk back until more comes or the flow goes quiet: the flow must have settled
    (an idle flush handed it over) by the watermark, or be past the raw parser's own flush."""
    if h.recorded is not None or h.wire is not None:
        # the recorder may write later than the writer delay the watermark allows it (a loaded
        # machine): the flow must have had this packet (its last byte no older than it), or its
        # stream as many bytes as the kernel had taken in (its FIN among them)
        info = book.current_flow(h.flow)
        if info is None or (h.recorded is not None and info.t_last < h.recorded - RECORDED_SLACK_S) or (
                h.wire is not None and info.bytes_out + info.fin_out < h.wire):
            return False
    if not h.raw:
        return True     # a framed message (a request, a WebSocket message) goes over as it ends
    settled = book.settled(h.flow)
    return (settled is not None and settled <= watermark) or h.t + RAW_FLUSH_SECONDS + IDLE_FLUSH <= watermark


def _connecting(client: list, dst: list, names: list[str], book: FlowBook) -> FlowInfo:
    """A connection mitmproxy is about to open, as a flow the allow-list can judge: the names it
    was given and what the DNS answers the session has seen say of its address."""
    info = FlowInfo(flow=flow_name(client, dst), channel="net", transport="tcp", src=str(client[0]),
                    sport=int(client[1]), dst=str(dst[0]), dport=int(dst[1]), destination=str(dst[0]))
    info.meta["names"] = [n for n in names if not is_address(n)]
    info.meta["resolved"] = book.resolved(info.dst)
    return info


def _keep(book: OrderedDict, key: str, value, update: bool = True):
    """``book[key]`` (set to ``value`` when new, or when ``update``), now the most recently touched;
    the least recently touched goes past ``MAX_FLOWS``."""
    if update or key not in book:
        book[key] = value
    book.move_to_end(key)
    if len(book) > MAX_FLOWS:
        book.popitem(last=False)
    return book[key]


def _flows_of(f: Finding) -> tuple[str, ...]:
    """The flows a finding is about: its own, and those a cross-flow finding lists (``detail["flows"]``
    maps flow to bytes there; an opaque-volume or encrypted finding counts its flows under that key)."""
    listed = f.detail.get("flows")
    return (f.flow, *listed) if isinstance(listed, dict) else (f.flow,)


def _base(flow: str) -> str:
    """A flow name without the ``#n`` the Dissector adds when a 4-tuple is reused."""
    return flow.split(" #", 1)[0]
