"""The demo's "cloud": real servers the simulated instrument leaks to, on one address of the bench.

    python -m hw.demo.cloud --pki DIR --bind 127.0.0.1 --services web,ws,grpc,tcp,dns [--standard-ports] [--dns-bind ADDR]

- ``web``: HTTPS (werkzeug, TLS by the cloud's CA): uploads, LIMS, telemetry, update checks; hosts named
  with ``--s3-host`` get S3 (moto's S3 app, multipart uploads included); ``http`` is the same in clear;
- ``ws``: WebSocket over TLS (websockets); ``grpc``: gRPC over TLS (grpcio), any method answered;
- ``tcp``: a raw TCP sink; ``dns``: a resolver that answers the ``--dns-answer`` names and every
  other query NXDOMAIN.

Prints ``up {"web": PORT, ...}`` once every service listens; runs until killed.  Ports are free
ones, or the standard ones (443, 80, 8443, 50051, 9000, 53) with ``--standard-ports`` (in a
namespace of its own).  It keeps counts of what arrived (``--log``: one JSON line per request, bytes
only, never the content).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

from hw.demo.pki import Pki

SERVICES = ("web", "http", "ws", "grpc", "tcp", "dns")
STANDARD_PORTS = {"web": 443, "http": 80, "ws": 8443, "grpc": 50051, "tcp": 9000, "dns": 53}
# S3 parts may be as small as the demo's data (AWS says 5 MiB but for the last): moto reads this.
S3_PART_MIN_BYTES = "1"
UPDATE_PATH_HINT = "latest"     # a GET whose path says this gets the update manifest
RECV_BYTES = 65536


class Log:
    """What arrived, as counts: one JSON line per request or message."""

    def __init__(self, path: Path | None) -> None:
        self.fh = open(path, "a", buffering=1) if path else None  # noqa: SIM115 - the process's lifetime
        self.lock = threading.Lock()

    def note(self, service: str, host: str, size: int) -> None:
        if self.fh is not None:
            with self.lock:
                self.fh.write(json.dumps({"service": service, "host": host, "bytes": size}) + "\n")


def _tls(pki: Pki, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert, pki.key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def web_app(log: Log, s3_hosts: set[str], service: str):
    """One WSGI app for every HTTP host: S3 hosts go to moto, the rest to an upload sink."""
    from werkzeug.wrappers import Request, Response

    s3 = None
    if s3_hosts:
        from moto.server import create_backend_app

        s3 = create_backend_app("s3")

    def app(environ, start_response):
        host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
        if s3 is not None and host in s3_hosts:
            log.note(f"{service} s3", host, int(environ.get("CONTENT_LENGTH") or 0))
            environ["HTTP_HOST"] = "localhost"     # moto: path-style buckets under any name
            return s3(environ, start_response)
        request = Request(environ)
        body = request.get_data()
        log.note(service, host, len(body))
        if request.method == "GET" and UPDATE_PATH_HINT in request.path:
            from sandbox.simulate.payload import update_manifest

            return Response(update_manifest(), content_type="application/json")(environ, start_response)
        return Response(b'{"ok":true}', content_type="application/json")(environ, start_response)

    return app


def serve_web(bind: str, port: int, app, tls: ssl.SSLContext | None) -> int:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args) -> None:
            pass

    server = make_server(bind, port, app, threaded=True, ssl_context=tls, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_port


def serve_ws(bind: str, port: int, tls: ssl.SSLContext, log: Log) -> int:
    import websockets.asyncio.server as wss

    bound: futures.Future[int] = futures.Future()

    async def handler(conn) -> None:
        host = (conn.request.headers.get("Host") or "").rsplit(":", 1)[0] if conn.request else ""
        async for message in conn:
            log.note("ws", host, len(message))
            await conn.send("ok")

    async def run() -> None:
        async with wss.serve(handler, bind, port, ssl=tls, max_size=None) as server:
            bound.set_result(next(iter(server.sockets)).getsockname()[1])
            await asyncio.Future()

    threading.Thread(target=lambda: asyncio.run(run()), daemon=True).start()
    return bound.result(timeout=30)


def serve_grpc(bind: str, port: int, pki: Pki, log: Log) -> int:
    import grpc

    def answer(request: bytes, context) -> bytes:
        log.note("grpc", "", len(request))
        return b"ok"

    class AnyMethod(grpc.GenericRpcHandler):
        def service(self, details):
            return grpc.unary_unary_rpc_method_handler(answer, request_deserializer=bytes, response_serializer=bytes)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[AnyMethod()],
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    bound = server.add_secure_port(f"{bind}:{port}", grpc.ssl_server_credentials([(pki.key.read_bytes(),
                                                                                 pki.cert.read_bytes())]))
    server.start()
    serve_grpc.server = server   # kept alive for the process's lifetime
    return bound


def serve_tcp(bind: str, port: int, log: Log) -> int:
    listener = socket.create_server((bind, port))

    def conn(sock: socket.socket) -> None:
        size = 0
        with sock:
            while chunk := sock.recv(RECV_BYTES):
                size += len(chunk)
        log.note("tcp", "", size)

    def accept() -> None:
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=conn, args=(sock,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def serve_dns(bind: str, port: int, log: Log, answers: dict[str, str] | None = None,
              seen: Callable[[bytes], None] | None = None) -> int:
    """The bench resolver: ``answers`` (name -> IPv4 address) get their A record (and an empty AAAA
    answer), anything else NXDOMAIN.  ``seen`` gets each query's bytes (a test asks what they said)."""
    import dns.message
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.rrset

    answers = {name.lower().rstrip("."): address for name, address in (answers or {}).items()}

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))

    def loop() -> None:
        while True:
            data, addr = sock.recvfrom(4096)
            log.note("dns", "", len(data))
            if seen is not None:
                seen(data)
            try:
                query = dns.message.from_wire(data)
                reply = dns.message.make_response(query)
                question = query.question[0] if query.question else None
                # a question is an empty RRset: falsy, so it is compared with None
                address = None if question is None else answers.get(question.name.to_text().lower().rstrip("."))
                if address is None:
                    reply.set_rcode(dns.rcode.NXDOMAIN)
                elif question.rdtype == dns.rdatatype.A:
                    reply.answer.append(dns.rrset.from_text(question.name, 60, dns.rdataclass.IN,
                                                            dns.rdatatype.A, address))
                sock.sendto(reply.to_wire(), addr)
            except Exception:  # noqa: BLE001 - a query it cannot parse gets no answer, as on the internet
                pass

    threading.Thread(target=loop, daemon=True).start()
    return sock.getsockname()[1]


def start(services: list[str], bind: str, pki: Pki, s3_hosts: set[str], log: Log,
          standard_ports: bool = False, dns_bind: str = "", answers: dict[str, str] | None = None) -> dict[str, int]:
    """Start the services; their ports (the resolver on ``dns_bind`` when given, answering ``answers``)."""
    os.environ.setdefault("S3_UPLOAD_PART_MIN_SIZE", S3_PART_MIN_BYTES)
    port = {s: STANDARD_PORTS[s] if standard_ports else 0 for s in SERVICES}
    ports: dict[str, int] = {}
    if "web" in services:
        ports["web"] = serve_web(bind, port["web"], web_app(log, s3_hosts, "web"), _tls(pki, ["http/1.1"]))
    if "http" in services:
        ports["http"] = serve_web(bind, port["http"], web_app(log, s3_hosts, "http"), None)
    if "ws" in services:
        ports["ws"] = serve_ws(bind, port["ws"], _tls(pki, ["http/1.1"]), log)
    if "grpc" in services:
        ports["grpc"] = serve_grpc(bind, port["grpc"], pki, log)
    if "tcp" in services:
        ports["tcp"] = serve_tcp(bind, port["tcp"], log)
    if "dns" in services:
        ports["dns"] = serve_dns(dns_bind or bind, port["dns"], log, answers)
    return ports


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hw.demo.cloud", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pki", type=Path, required=True, help="folder with cloud-ca.pem, cloud.pem, cloud.key")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--dns-bind", default="", help="the resolver's own address (default: --bind)")
    p.add_argument("--dns-answer", action="append", default=[], metavar="NAME=ADDRESS",
                   help="a name the resolver answers with this IPv4 address (others: NXDOMAIN)")
    p.add_argument("--services", default=",".join(SERVICES))
    p.add_argument("--s3-host", action="append", default=[], help="a host name served as S3")
    p.add_argument("--standard-ports", action="store_true")
    p.add_argument("--log", type=Path)
    args = p.parse_args(argv)
    services = [s for s in args.services.split(",") if s]
    unknown = set(services) - set(SERVICES)
    if unknown:
        print(f"error: unknown service {sorted(unknown)[0]}", file=sys.stderr)
        return 2
    answers = dict(a.split("=", 1) for a in args.dns_answer if "=" in a)
    ports = start(services, args.bind, Pki.at(args.pki), {h.lower() for h in args.s3_host}, Log(args.log),
                  args.standard_ports, args.dns_bind, answers)
    print("up " + json.dumps(ports), flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
