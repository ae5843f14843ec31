"""The instrument traffic sandbox's mitmproxy addon: records what mitmproxy sees for the rig.

    mitmdump -s hw/net/addon.py --set sandbox_feed=RECORD_DIR/feed/proxied.pcapng \
             [--set sandbox_ready=FILE] [--set sandbox_judge=...]

For each TLS connection mitmproxy terminates (whose plaintext the raw recording cannot show until
its keys are injected) it records every request head, body piece (streamed requests included),
response head, WebSocket and TCP message in the feed recording (``feed``), which the rig's session
follows.  Record first: a piece is in the file (the page cache) before mitmproxy sends it on; each
is one ``writev`` of the bytes mitmproxy holds, so the event loop pays a copy into the page cache and
nothing else (a disk that stalls slows the instrument down, nothing is lost).  Message lists
mitmproxy keeps per connection are trimmed as they are recorded (multi-day runs).

With ``sandbox_judge`` set (``sandbox watch --block``), each connection, each request, and each
WebSocket, TCP or (WireGuard mode) UDP message and DNS query the instrument sends is held until the
rig has judged it, and killed (a message: dropped, its connection closed) before the upstream
receives it when it carries run data or goes where the bench may not.
Without ``sandbox_feed`` the addon does nothing, so it loads anywhere.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import json
import logging
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from hw.net.feed import FeedWriter
except ImportError:   # loaded by path (mitmdump -s) from mitmproxy's environment: find our package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from hw.net.feed import FeedWriter

from mitmproxy import ctx, http  # noqa: E402

log = logging.getLogger(__name__)

# A held request nobody judged within this long is killed: with --block, unjudged never passes.
HOLD_TIMEOUT_S = 60.0
# Messages of a TCP/WebSocket connection mitmproxy keeps after they were handed over.
KEEP_MESSAGES = 1
CONTENT_MODES = ("wireguard",)   # modes whose raw recording cannot show the inner traffic at all
# struct tcp_info (linux/tcp.h, Linux 4.1+): where tcpi_bytes_received is, and the size asked for
TCPI_BYTES_RECEIVED = struct.Struct("=Q")
TCPI_BYTES_RECEIVED_AT = 128
TCP_INFO_SIZE = 256


def _address(addr) -> list:
    """(host, port) with IPv4-mapped IPv6 written as IPv4, as a capture shows it."""
    if not addr:
        return ["", 0]
    host = str(addr[0])
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        host = str(ip)
    except ValueError:
        pass
    return [host, int(addr[1])]


def _received(client) -> int | None:
    """How many bytes the kernel has taken in on the instrument's connection (TCP_INFO), or None for
    a connection with no kernel socket (WireGuard: mitmproxy's own stack, its content all in the feed)."""
    server = ctx.master.addons.get("proxyserver")
    handler = server.connections.get(client.id) if server is not None else None
    io = handler.transports.get(handler.client) if handler is not None else None
    if io is None or io.writer is None or client.transport_protocol != "tcp":
        return None
    try:
        sock = io.writer.get_extra_info("socket")
    except KeyError:    # mitmproxy's own streams have no such extra, whatever default is given
        return None
    if sock is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
    except (OSError, AttributeError):
        return None
    if len(info) < TCPI_BYTES_RECEIVED_AT + TCPI_BYTES_RECEIVED.size:
        return None
    return TCPI_BYTES_RECEIVED.unpack_from(info, TCPI_BYTES_RECEIVED_AT)[0]


def _fail_closed(refuse: Callable[[SandboxTap, Any, str], None]):
    """A hook holding what the instrument sent, made to refuse it if the hook fails under --block:
    mitmproxy logs a hook's exception and carries on, so what it held would pass unjudged (a
    WireGuard stream lacking an extra once let every request of reads through)."""
    def wrap(hook):
        @functools.wraps(hook)
        async def held(self: SandboxTap, arg) -> None:
            try:
                await hook(self, arg)
            except Exception as exc:
                if self.judge is None:
                    raise
                why = f"the rig's addon failed ({type(exc).__name__}: {exc})"
                log.error(f"sandbox: {hook.__name__}: {why}; refused what it held")
                refuse(self, arg, why)
        return held
    return wrap


def _kill(tap: SandboxTap, flow, why: str) -> None:
    """Refuse a held request or DNS query (the judge's refusal, or a failed hook's)."""
    if flow.killable:
        flow.kill()


def _drop_message(tap: SandboxTap, flow, why: str) -> None:
    """Refuse a held TCP, UDP or WebSocket message: emptied, its connection closed (the messages
    queued behind it on that connection are emptied without a question, ``_hold_message``)."""
    ws = getattr(flow, "websocket", None)
    messages = ws.messages if ws is not None else flow.messages
    if messages and messages[-1].from_client:
        if ws is not None:
            messages[-1].drop()
        else:
            messages[-1].content = b""
    tap.cut.add(flow.client_conn.id)
    tap._cut(flow.client_conn)


def _refuse_connect(tap: SandboxTap, data, why: str) -> None:
    """Refuse a held connection."""
    data.server.error = f"blocked by the sandbox: {why}"


class _Judge:
    """The rig's verdicts: one JSON line each way per question, answered in any order."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.loop = loop
        self.waiting: dict[int, asyncio.Future] = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        threading.Thread(target=self._read, name="sandbox-judge", daemon=True).start()

    async def ask(self, question: dict) -> dict:
        qid = next(self.ids)
        fut = self.loop.create_future()
        self.waiting[qid] = fut
        line = json.dumps({**question, "id": qid}).encode() + b"\n"
        try:
            with self.lock:
                self.sock.sendall(line)
            return await asyncio.wait_for(fut, HOLD_TIMEOUT_S)
        except (TimeoutError, OSError) as exc:
            return {"allow": False, "reason": f"not judged: {exc or 'timeout'}"}
        finally:
            self.waiting.pop(qid, None)

    def _read(self) -> None:
        f = self.sock.makefile("rb")
        for line in f:
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            fut = self.waiting.get(answer.get("id"))
            if fut is not None:
                self.loop.call_soon_threadsafe(lambda fut=fut, a=answer: fut.done() or fut.set_result(a))
        for fut in list(self.waiting.values()):   # the rig went away: fail closed
            self.loop.call_soon_threadsafe(lambda fut=fut: fut.done() or fut.set_result(
                {"allow": False, "reason": "the rig's judge went away"}))


class _DnsGate:
    """Sees each DNS request before mitmproxy's own resolver does: in WireGuard mode that resolver
    (10.0.0.53, the client config's) looks a name up in its ``dns_request`` hook, which runs before
    a script's, so a query held there would already have gone out through the rig's resolver."""

    name = "sandbox-dns-gate"

    def __init__(self, tap: SandboxTap) -> None:
        self.tap = tap

    @classmethod
    def install(cls, tap: SandboxTap) -> None:
        addons = ctx.master.addons
        if addons.get(cls.name) is not None:
            return
        gate = addons.register(cls(tap))
        resolver = addons.get("dnsresolver")
        chain = addons.chain
        chain.insert(chain.index(resolver) if resolver in chain else 0, gate)

    async def dns_request(self, flow) -> None:
        await self.tap.gate_dns(flow)


class SandboxTap:
    def __init__(self) -> None:
        self.feed: FeedWriter | None = None
        self.judge: _Judge | None = None
        self.conns: dict[str, int] = {}          # mitmproxy client id -> our connection number
        self.msgs: dict[str, int] = {}           # flow id -> message number on its connection
        self.numbers = itertools.count(1)
        self.approved: set[str] = set()          # client ids with a request judged allowed
        self.cut: set[str] = set()               # client ids whose connection a refused message closed
        self.resolve: dict[str, str] = {}        # name -> address (--set sandbox_resolve)
        self.handshakes: dict[str, int] = {}     # client id -> bytes it had sent when its TLS was set up

    def load(self, loader) -> None:
        loader.add_option("sandbox_feed", str, "",
                          "pcapng file the sandbox rig follows: what mitmproxy read inside TLS (empty: addon idle).")
        loader.add_option("sandbox_ready", str, "",
                          "File written once mitmproxy listens: where, and the WireGuard client configs (JSON).")
        loader.add_option("sandbox_judge", str, "",
                          "Unix socket of the sandbox rig's judge: hold each request until judged (--block).")
        loader.add_option("sandbox_resolve", str, "",
                          "NAME=ADDRESS,...: connect to these names at these addresses (bench servers no DNS knows).")

    def running(self) -> None:
        self.resolve = dict(item.split("=", 1) for item in ctx.options.sandbox_resolve.lower().split(",") if "=" in item)
        if ctx.options.sandbox_feed:
            try:
                self.feed = FeedWriter(Path(ctx.options.sandbox_feed))
            except OSError as exc:
                self._lost(f"cannot write the sandbox feed recording: {exc}")
                return
        if ctx.options.sandbox_judge:
            self.judge = _Judge(ctx.options.sandbox_judge, asyncio.get_running_loop())
        if self.feed is not None:
            _DnsGate.install(self)
        if ctx.options.sandbox_ready:
            servers = ctx.master.addons.get("proxyserver").servers
            ready = Path(ctx.options.sandbox_ready)
            tmp = ready.with_name(ready.name + ".tmp")
            tmp.write_text(json.dumps({"listen": [_address(a) for s in servers for a in s.listen_addrs],
                                       "wireguard": [s.client_conf() for s in servers if hasattr(s, "client_conf")]}))
            tmp.replace(ready)

    def done(self) -> None:
        if self.feed is not None:
            self.feed.close_file()
            self.feed = None

    def _lost(self, why: str) -> None:
        log.error(why)
        self.feed = None
        ctx.master.shutdown()   # blind is worse than stopped: the instrument loses its way out

    def _record(self, method: str, conn: int, *args) -> None:
        """``FeedWriter.<method>(conn, now, *args)``; a failed write stops the proxy."""
        if self.feed is not None:
            try:
                getattr(self.feed, method)(conn, time.time(), *args)
            except OSError as exc:
                self._lost(f"the sandbox feed recording failed: {exc}")

    # -- connections ----------------------------------------------------------------------
    def _content_mode(self, client) -> bool:
        return any(client.proxy_mode.type_name == m for m in CONTENT_MODES)

    def tls_established_client(self, data) -> None:
        client = data.context.client
        if self.judge is not None and (received := _received(client)) is not None:
            self.handshakes[client.id] = received
        self._open(client, data.context.server)

    @staticmethod
    def _dst(client, server):
        """The far end of the instrument's connection as the raw recording shows it: the original
        destination in transparent/WireGuard mode, else the proxy's own address."""
        mode = client.proxy_mode.type_name
        return server.address if mode in ("transparent", "wireguard") else client.sockname

    def _open(self, client, server) -> int | None:
        number = self.conns.get(client.id)
        if number is None and self.feed is not None:
            number = self.conns[client.id] = next(self.numbers)
            # t: from the connection's start on, its plaintext is in the feed (see reframe)
            try:
                self.feed.open(number, _address(client.peername), _address(self._dst(client, server)),
                               client.timestamp_start, only=self._content_mode(client))
            except OSError as exc:
                self._lost(f"the sandbox feed recording failed: {exc}")
        return number

    def _conn(self, flow) -> int | None:
        client = flow.client_conn
        if client.id in self.conns:
            return self.conns[client.id]
        if self._content_mode(client):
            return self._open(client, flow.server_conn)
        return None   # plaintext on the wire: the raw recording has it

    def client_disconnected(self, client) -> None:
        number = self.conns.pop(client.id, None)
        self.approved.discard(client.id)
        self.cut.discard(client.id)
        self.handshakes.pop(client.id, None)
        if number is not None and self.feed is not None:
            self.feed.close(number)

    # -- HTTP ----------------------------------------------------------------------------------
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        conn = self._conn(flow)
        if conn is None:
            return
        req = flow.request
        msg = self.msgs[flow.id] = next(self.numbers)
        target = req.data.authority if req.method == "CONNECT" else req.data.path
        authority = req.data.authority or (req.host_header or "").encode("utf-8", "surrogateescape")
        self._record("request", conn, msg, req.data.method, target, req.http_version, list(req.headers.fields),
                     req.data.scheme, authority)
        if self.judge is None:
            # stream every request body through us piece by piece: nothing buffered, nothing missed
            flow.request.stream = lambda data, conn=conn, msg=msg: self._piece(conn, msg, data)

    def _piece(self, conn: int, msg: int, data: bytes) -> bytes:
        self._record("body", conn, msg, data)
        return data

    @_fail_closed(_kill)
    async def request(self, flow: http.HTTPFlow) -> None:
        conn = self.conns.get(flow.client_conn.id)
        msg = self.msgs.pop(flow.id, None)
        if conn is not None and msg is not None:
            if not flow.request.stream and flow.request.raw_content:
                self._piece(conn, msg, flow.request.raw_content)
            self._record("end", conn, msg, list(flow.request.trailers.fields) if flow.request.trailers else [])
            self.msgs[flow.id] = msg          # the response head names it too
        if self.judge is not None:
            await self._hold(flow)

    async def _judged(self, flow, op: str, raw: bool = False) -> dict:
        """The rig's verdict on what ``flow`` just sent (in the feed already: writes are synchronous;
        in the raw recording once it has ``wire`` bytes of the connection); ``raw``: bytes no protocol
        frames, which the analysis may hold back a while."""
        client = flow.client_conn
        dst = self._dst(client, flow.server_conn)
        return await self.judge.ask(self._wire({"op": op, "client": _address(client.peername), "dst": _address(dst),
                                                "transport": client.transport_protocol, "raw": raw,
                                                "t": time.time()}, client))

    def _wire(self, question: dict, client) -> dict:
        """``question`` with ``wire``: how many bytes of the instrument's connection the raw recording
        must show before the rig may judge it.  The recorder may lag the writer delay the rig allows it
        (a loaded machine), and only the recording has what the instrument sent outside TLS (plain HTTP,
        raw TCP, a CONNECT line, a server name): all the kernel took in, or for a TLS connection whose
        plaintext the feed has, all up to the end of its handshake."""
        wire = self.handshakes.get(client.id)
        if wire is None:
            wire = _received(client)
        return question if wire is None else {**question, "wire": wire}

    async def _hold(self, flow: http.HTTPFlow) -> None:
        client = flow.client_conn
        answer = await self._judged(flow, "request")
        if answer.get("allow"):
            self.approved.add(client.id)
        else:
            log.warning(f"sandbox: blocked {flow.request.method} {flow.request.pretty_url}: {answer.get('reason')}")
            _kill(self, flow, answer.get("reason", ""))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        conn = self.conns.get(flow.client_conn.id)
        msg = self.msgs.get(flow.id)
        if conn is None or msg is None or flow.response is None:
            return
        resp = flow.response
        self._record("response", conn, msg, resp.status_code, resp.data.reason, resp.http_version,
                     list(resp.headers.fields))
        if resp.status_code >= 200:
            self.msgs.pop(flow.id, None)

    def error(self, flow: http.HTTPFlow) -> None:
        self.msgs.pop(flow.id, None)

    # -- after an upgrade, raw TCP -------------------------------------------------------------
    @_fail_closed(_drop_message)
    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        conn = self.conns.get(flow.client_conn.id)
        messages = flow.websocket.messages
        if messages:
            m = messages[-1]
            if conn is not None:
                self._record("websocket", conn, m.from_client, m.is_text, m.content)
            if self.judge is not None and m.from_client:
                # held like a request (mitmproxy relays nothing more on this connection meanwhile)
                answer = await self._judged(flow, "message")
                if not answer.get("allow"):
                    log.warning(f"sandbox: blocked a WebSocket message to {flow.request.pretty_url}: "
                                f"{answer.get('reason')}")
                    _drop_message(self, flow, answer.get("reason", ""))
        del messages[:-KEEP_MESSAGES]

    @staticmethod
    def _cut(client) -> None:
        """Close a connection mid-stream: mitmproxy 11 cannot kill a WebSocket flow (its #4711), so
        its connection handler closes the instrument's side, which ends the upstream one too."""
        server = ctx.master.addons.get("proxyserver")
        handler = server.connections.get(client.id) if server is not None else None
        if handler is not None:
            handler.close_connection(client)

    # -- UDP and DNS inside a tunnel (WireGuard): no other record has them ----------------------
    @_fail_closed(_drop_message)
    async def udp_message(self, flow) -> None:
        if flow.messages and self._content_mode(flow.client_conn):
            m = flow.messages[-1]
            self._datagram(flow, m.from_client, m.content, m.timestamp)
            if self.judge is not None and m.from_client:
                await self._hold_message(flow, m)
            del flow.messages[:-KEEP_MESSAGES]

    @_fail_closed(_kill)
    async def gate_dns(self, flow) -> None:
        """A DNS query the instrument sent (``_DnsGate``): recorded, then held for the judge under
        --block; refused, it is killed (the instrument gets SERVFAIL, nobody looks the name up)."""
        if not self._content_mode(flow.client_conn):
            return
        self._datagram(flow, True, flow.request.packed, flow.request.timestamp)
        if self.judge is not None:
            answer = await self._judged(flow, "message", raw=True)
            if not answer.get("allow"):
                log.warning(f"sandbox: blocked a DNS query: {answer.get('reason')}")
                _kill(self, flow, answer.get("reason", ""))

    def dns_response(self, flow) -> None:
        if flow.response is not None and self._content_mode(flow.client_conn):
            self._datagram(flow, False, flow.response.packed, flow.response.timestamp)

    def _datagram(self, flow, from_client: bool, data: bytes, t: float) -> None:
        if self.feed is not None:
            try:
                self.feed.datagram(_address(flow.client_conn.peername),
                                   _address(self._dst(flow.client_conn, flow.server_conn)), t, from_client, data)
            except OSError as exc:
                self._lost(f"the sandbox feed recording failed: {exc}")

    @_fail_closed(_drop_message)
    async def tcp_message(self, flow) -> None:
        conn = self._conn(flow)
        if flow.messages:
            m = flow.messages[-1]
            if conn is not None:
                self._record("tcp", conn, m.from_client, m.content)
            if self.judge is not None and m.from_client:
                await self._hold_message(flow, m)
        del flow.messages[:-KEEP_MESSAGES]

    async def _hold_message(self, flow, m) -> None:
        """A TCP or UDP message held like a request: mitmproxy relays it once this returns (its layer
        awaits us).  Refused, it is emptied and its connection closed; the messages queued behind it on
        that connection are emptied without a question."""
        client = flow.client_conn
        if client.id in self.cut:
            m.content = b""
            return
        answer = await self._judged(flow, "message", raw=True)
        if answer.get("allow"):
            return
        log.warning(f"sandbox: blocked a {client.transport_protocol.upper()} message to "
                    f"{flow.server_conn.address}: {answer.get('reason')}")
        _drop_message(self, flow, answer.get("reason", ""))

    # -- policy ----------------------------------------------------------------------------------
    @_fail_closed(_refuse_connect)
    async def server_connect(self, data) -> None:
        if self.judge is not None and data.client.id not in self.approved:   # approved: by the Host it named
            await self._judge_connect(data)
        if self.resolve and data.server.address and not data.server.error:
            name, port = data.server.address
            if str(name).lower() in self.resolve:
                data.server.address = (self.resolve[str(name).lower()], port)

    async def _judge_connect(self, data) -> None:
        client, server = data.client, data.server
        question = {"op": "connect", "mode": client.proxy_mode.type_name, "transport": server.transport_protocol,
                    "client": _address(client.peername), "dst": _address(self._dst(client, server)),
                    "sni": server.sni or client.sni or "",   # raw TCP in TLS: the client's
                    "host": str(server.address[0]) if server.address else "", "t": time.time()}
        answer = await self.judge.ask(self._wire(question, client))
        if not answer.get("allow"):
            _refuse_connect(self, data, answer.get("reason", ""))


addons = [SandboxTap()]
