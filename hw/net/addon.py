"""The instrument traffic sandbox's mitmproxy addon: hands what mitmproxy sees to the rig.

    mitmdump -s hw/net/addon.py --set sandbox_socket=/path/to/feed.sock [--set sandbox_judge=...]

For each TLS connection mitmproxy terminates (whose plaintext the raw recording cannot show until
its keys are injected) it sends the rig every request head, body piece (streamed requests included),
response head, WebSocket and TCP message, over a local socket.  Hooks never wait on the rig:
the socket is written without blocking mitmproxy's event loop unless the rig is 64 MB behind.
Message lists mitmproxy keeps per connection are trimmed as they are handed over (multi-day runs).

With ``sandbox_judge`` set (``sandbox watch --block``), each request is held until the rig has
judged it, and killed before the upstream receives its body when it carries run data or goes
where the bench may not; connections to unlisted names are refused in ``server_connect``.
Without ``sandbox_socket`` the addon does nothing, so it loads anywhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import socket
import sys
import threading
import time
from collections import deque
from pathlib import Path

try:
    from hw.net import events
except ImportError:   # loaded by path (mitmdump -s) from mitmproxy's environment: find our package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from hw.net import events

from mitmproxy import ctx, http  # noqa: E402

log = logging.getLogger(__name__)

# Frames queued for the rig before hooks wait for it: the rig only appends them to a file, so this
# is reached only when its disk stalls (backpressure then slows the instrument, nothing is lost).
MAX_QUEUED_BYTES = 64 << 20
# Kernel buffer of the feed socket: a few hundred body pieces in flight before the loop has to wait.
SOCKET_BUFFER = 4 << 20
# A held request nobody judged within this long is killed: with --block, unjudged never passes.
HOLD_TIMEOUT_S = 60.0
# Messages of a TCP/WebSocket connection mitmproxy keeps after they were handed over.
KEEP_MESSAGES = 1
CONTENT_MODES = ("wireguard",)   # modes whose raw recording cannot show the inner traffic at all


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


def _headers(headers) -> list[list[str]]:
    return [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers.fields]


class _Link:
    """One socket to the rig, written from mitmproxy's event loop without blocking it: what the
    socket does not take at once waits (as views, never copied) until the loop sees it writable.
    Past MAX_QUEUED_BYTES the rig is that far behind: the loop waits for it (backpressure)."""

    def __init__(self, path: str, on_lost) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        self.sock.connect(path)
        self.sock.setblocking(False)
        self.loop = asyncio.get_running_loop()
        self.pending: deque[memoryview] = deque()
        self.queued = 0
        self.closed = False
        self.on_lost = on_lost
        self.sent = 0

    def send(self, head: bytes, data: bytes = b"") -> None:
        if self.closed:
            return
        self.sent += 1
        was_idle = not self.pending
        self.pending.append(memoryview(head))
        if data:
            self.pending.append(memoryview(data))
        self.queued += len(head) + len(data)
        if was_idle:
            self._drain()
            if self.pending and not self.closed:
                self.loop.add_writer(self.sock.fileno(), self._drain)
        if self.queued > MAX_QUEUED_BYTES:
            self._drain(block=True)

    def _drain(self, block: bool = False) -> None:
        if block:
            self.sock.setblocking(True)
        try:
            while self.pending:
                n = self.sock.sendmsg(list(itertools.islice(self.pending, 64)))
                self.queued -= n
                while n:
                    head = self.pending[0]
                    if len(head) <= n:
                        n -= len(head)
                        self.pending.popleft()
                    else:
                        self.pending[0] = head[n:]
                        n = 0
                if not block:
                    break
        except BlockingIOError:
            pass
        except OSError as exc:
            self._lose(exc)
            return
        finally:
            if block:
                self.sock.setblocking(False)
        if not self.pending:
            self.loop.remove_writer(self.sock.fileno())

    def _lose(self, exc: OSError) -> None:
        self.closed = True
        self.loop.remove_writer(self.sock.fileno())
        self.on_lost(f"the rig's feed socket failed: {exc}")

    def close(self) -> None:
        if not self.closed and self.pending:
            self._drain(block=True)
        self.closed = True
        try:
            self.loop.remove_writer(self.sock.fileno())
            self.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            pass
        self.sock.close()


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


class SandboxTap:
    def __init__(self) -> None:
        self.feed: _Link | None = None
        self.judge: _Judge | None = None
        self.conns: dict[str, int] = {}          # mitmproxy client id -> our connection number
        self.msgs: dict[str, int] = {}           # flow id -> message number on its connection
        self.numbers = itertools.count(1)
        self.approved: set[str] = set()          # client ids with a request judged allowed
        self.resolve: dict[str, str] = {}        # name -> address (--set sandbox_resolve)

    def load(self, loader) -> None:
        loader.add_option("sandbox_socket", str, "", "Unix socket of the sandbox rig's feed (empty: addon idle).")
        loader.add_option("sandbox_judge", str, "",
                          "Unix socket of the sandbox rig's judge: hold each request until judged (--block).")
        loader.add_option("sandbox_resolve", str, "",
                          "NAME=ADDRESS,...: connect to these names at these addresses (bench servers no DNS knows).")

    def running(self) -> None:
        self.resolve = dict(item.split("=", 1) for item in ctx.options.sandbox_resolve.lower().split(",") if "=" in item)
        if ctx.options.sandbox_socket:
            self.feed = _Link(ctx.options.sandbox_socket, self._lost)
            servers = ctx.master.addons.get("proxyserver").servers
            self._send(events.HELLO, 0, {
                "listen": [_address(a) for s in servers for a in s.listen_addrs],
                "wireguard": [s.client_conf() for s in servers if hasattr(s, "client_conf")]})
        if ctx.options.sandbox_judge:
            self.judge = _Judge(ctx.options.sandbox_judge, asyncio.get_running_loop())

    def done(self) -> None:
        if self.feed is not None:
            self.feed.close()

    def _lost(self, why: str) -> None:
        log.error(why)
        ctx.master.shutdown()   # blind is worse than stopped: the instrument loses its way out

    def _send(self, kind: int, conn: int, meta: dict | None = None, data: bytes = b"",
              t: float | None = None) -> None:
        if self.feed is not None:
            self.feed.send(events.encode_head(kind, time.time() if t is None else t, conn, meta, len(data)), data)

    # -- connections ----------------------------------------------------------------------
    def _content_mode(self, client) -> bool:
        return any(client.proxy_mode.type_name == m for m in CONTENT_MODES)

    def tls_established_client(self, data) -> None:
        self._open(data.context.client, data.context.server)

    @staticmethod
    def _dst(client, server):
        """The far end of the instrument's connection as the raw recording shows it: the original
        destination in transparent/WireGuard mode, else the proxy's own address."""
        mode = client.proxy_mode.type_name
        return server.address if mode in ("transparent", "wireguard") else client.sockname

    def _open(self, client, server) -> int:
        number = self.conns.get(client.id)
        if number is None:
            number = self.conns[client.id] = next(self.numbers)
            dst = self._dst(client, server)
            # t: from the connection's start on, its plaintext is in the feed (see reframe)
            self._send(events.CONN, number, {"client": _address(client.peername), "dst": _address(dst),
                                             "tls": bool(client.tls), "alpn": (client.alpn or b"").decode("latin-1"),
                                             "mode": client.proxy_mode.type_name}, t=client.timestamp_start)
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
        if number is not None:
            self._send(events.CLOSE, number)

    # -- HTTP ----------------------------------------------------------------------------------
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        conn = self._conn(flow)
        if conn is None:
            return
        req = flow.request
        msg = self.msgs[flow.id] = next(self.numbers)
        target = req.authority if req.method == "CONNECT" else req.path
        self._send(events.REQUEST, conn, {"msg": msg, "method": req.method, "target": target,
                                          "version": req.http_version, "scheme": req.scheme,
                                          "authority": req.authority or req.host_header or "",
                                          "headers": _headers(req.headers)})
        if self.judge is None:
            # stream every request body through us piece by piece: nothing buffered, nothing missed
            flow.request.stream = lambda data, conn=conn, msg=msg: self._piece(conn, msg, data)

    def _piece(self, conn: int, msg: int, data: bytes) -> bytes:
        for i in range(0, len(data), events.MAX_PIECE):
            self._send(events.BODY, conn, {"msg": msg}, data[i: i + events.MAX_PIECE])
        return data

    async def request(self, flow: http.HTTPFlow) -> None:
        conn = self.conns.get(flow.client_conn.id)
        msg = self.msgs.pop(flow.id, None)
        if conn is not None and msg is not None:
            if not flow.request.stream and flow.request.raw_content:
                self._piece(conn, msg, flow.request.raw_content)
            trailers = _headers(flow.request.trailers) if flow.request.trailers else []
            self._send(events.END, conn, {"msg": msg, "trailers": trailers})
            self.msgs[flow.id] = msg          # the response head names it too
        if self.judge is not None:
            await self._hold(flow)

    async def _hold(self, flow: http.HTTPFlow) -> None:
        client = flow.client_conn
        dst = self._dst(client, flow.server_conn)
        answer = await self.judge.ask({"op": "request", "client": _address(client.peername), "dst": _address(dst),
                                       "host": flow.request.pretty_host, "t": time.time(),
                                       "frames": self.feed.sent if self.feed else 0})
        if answer.get("allow"):
            self.approved.add(client.id)
        else:
            log.warning(f"sandbox: blocked {flow.request.method} {flow.request.pretty_url}: {answer.get('reason')}")
            flow.kill()

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        conn = self.conns.get(flow.client_conn.id)
        msg = self.msgs.get(flow.id)
        if conn is None or msg is None or flow.response is None:
            return
        resp = flow.response
        self._send(events.RESPONSE, conn, {"msg": msg, "status": resp.status_code, "reason": resp.reason,
                                           "version": resp.http_version, "headers": _headers(resp.headers)})
        if resp.status_code >= 200:
            self.msgs.pop(flow.id, None)

    def error(self, flow: http.HTTPFlow) -> None:
        self.msgs.pop(flow.id, None)

    # -- after an upgrade, raw TCP -------------------------------------------------------------
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        conn = self.conns.get(flow.client_conn.id)
        messages = flow.websocket.messages
        if conn is not None and messages:
            m = messages[-1]
            self._send(events.WEBSOCKET, conn, {"from_client": m.from_client, "text": m.is_text}, m.content)
        del messages[:-KEEP_MESSAGES]

    def tcp_message(self, flow) -> None:
        conn = self._conn(flow)
        if conn is not None and flow.messages:
            m = flow.messages[-1]
            self._send(events.TCP, conn, {"from_client": m.from_client}, m.content)
        del flow.messages[:-KEEP_MESSAGES]

    # -- policy ----------------------------------------------------------------------------------
    async def server_connect(self, data) -> None:
        if self.judge is not None and data.client.id not in self.approved:   # approved: by the Host it named
            await self._judge_connect(data)
        if self.resolve and data.server.address and not data.server.error:
            name, port = data.server.address
            if str(name).lower() in self.resolve:
                data.server.address = (self.resolve[str(name).lower()], port)

    async def _judge_connect(self, data) -> None:
        client, server = data.client, data.server
        answer = await self.judge.ask({"op": "connect", "client": _address(client.peername),
                                       "dst": _address(self._dst(client, server)), "sni": server.sni or "",
                                       "host": str(server.address[0]) if server.address else "", "t": time.time()})
        if not answer.get("allow"):
            data.server.error = f"blocked by the sandbox: {answer.get('reason')}"


addons = [SandboxTap()]
