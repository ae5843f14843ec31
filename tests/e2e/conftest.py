"""End-to-end harness: real clients talk to real servers on loopback while dumpcap records them.

Every server binds to one loopback address of its own (``HOST``, somewhere in 127.77/16), so the
capture filter ``host HOST`` keeps out whatever else runs on ``lo`` on a shared machine, and the
client side (127.0.0.1) is the "instrument". The capture is then replayed through the real CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sandbox.simulate.runfolder import make_illumina_run, sample_fastqs
from tests.loopback import Recording, record_lo

REPO = Path(__file__).resolve().parents[2]
HOST = f"127.77.{os.getpid() % 250 + 1}.{os.getpid() // 250 % 250 + 1}"
INSTRUMENT = "127.0.0.1"
CLI_TIMEOUT = 120


# --- recording ------------------------------------------------------------------------------------


@pytest.fixture
def recorder(tmp_path: Path) -> Callable[..., AbstractContextManager[Recording]]:
    """``with recorder() as rec: ...`` records loopback traffic to/from HOST into ``rec.path``."""

    def start(bpf: str | None = None, name: str = "capture.pcapng") -> AbstractContextManager[Recording]:
        return record_lo(tmp_path / name, bpf or f"host {HOST}")

    return start


# --- the CLI ----------------------------------------------------------------------------------------


@dataclass
class Replay:
    code: int
    report: dict[str, Any]
    stderr: str

    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.report.get("findings", [])

    def kinds(self) -> set[str]:
        return {f["kind"] for f in self.findings}

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        """Findings holding evidence of any of ``kinds`` (one leak lists all its evidence kinds)."""
        return [f for f in self.findings if set(kinds) & {f["kind"], *f.get("evidence_kinds", ())}]

    def files(self) -> set[str]:
        return {m["path"] for f in self.findings for m in f.get("files", [])}

    def samples(self) -> set[str]:
        return {s for f in self.findings for s in f.get("samples", [])}

    def chains(self) -> list[list[str]]:
        return [f.get("chain", []) for f in self.findings]


@pytest.fixture(scope="session")
def index_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index-cache")


@pytest.fixture
def replay(tmp_path: Path, index_cache: Path) -> Callable[..., Replay]:
    """Run ``python -m sandbox.cli replay`` on captures and return its exit code and JSON report."""

    def run(captures: Path | list[Path], run_dir: Path, *extra: str, instrument: str | None = INSTRUMENT) -> Replay:
        caps = [captures] if isinstance(captures, Path) else captures
        out = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
        argv = [sys.executable, "-m", "sandbox.cli", "replay", *map(str, caps), "--run", str(run_dir),
                "--report", str(out), "--cache-dir", str(index_cache), "--quiet", *extra]
        if instrument:
            argv += ["--instrument", f"{instrument}/32"]
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=CLI_TIMEOUT)
        # an uncaught exception also exits 1: no report file tells it from a leak verdict
        assert proc.returncode in (0, 1) and out.is_file(), f"CLI failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        report = json.loads(out.read_text())
        assert report["schema"] == "sandbox.report/1"
        return Replay(proc.returncode, report, proc.stderr)

    return run


# --- run data ---------------------------------------------------------------------------------------


@dataclass
class SimRun:
    path: Path
    fastqs: dict[str, Path]  # Sample_ID -> FASTQ.gz

    @property
    def sample_ids(self) -> list[str]:
        return list(self.fastqs)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.path).as_posix()

    def fastq_text(self, sample: str, records: int) -> bytes:
        import gzip

        lines = gzip.decompress(self.fastqs[sample].read_bytes()).split(b"\n")
        return b"\n".join(lines[: 4 * records]) + b"\n"

    def reads(self, sample: str, n: int) -> list[str]:
        lines = self.fastq_text(sample, n).split(b"\n")
        return [s.decode() for s in lines[1::4][:n]]


@pytest.fixture(scope="session")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> SimRun:
    run = make_illumina_run(tmp_path_factory.mktemp("run"), seed=11, reads_per_sample=1500)
    return SimRun(run, sample_fastqs(run))


# --- servers ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    host: str
    port: int
    received: list[Any] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # what GET serves (HTTP server)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class _UploadHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self._body()
        self.server.received.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self._reply(200, json.dumps({"ok": True, "bytes": len(body)}).encode())

    do_PUT = do_POST

    def do_GET(self) -> None:
        data = self.server.files.get(self.path)  # type: ignore[attr-defined]
        if data is None:
            self._reply(404, b'{"error": "not found"}')
        else:
            self._reply(200, data, "application/octet-stream")


@pytest.fixture
def http_server() -> Iterator[Server]:
    """HTTP/1.1 server accepting POST/PUT bodies (length or chunked); GET serves ``downloads``."""
    httpd = ThreadingHTTPServer((HOST, 0), _UploadHandler)
    httpd.daemon_threads = True
    server = Server(HOST, httpd.server_address[1])
    httpd.received, httpd.files = server.received, server.files  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for HOST (the client trusts exactly this file)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=IP:{HOST}"], check=True, capture_output=True, timeout=30)
    return cert, key


def _moto(ssl_context: tuple[str, str] | None) -> Any:
    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
    from werkzeug.serving import make_server

    class Moto(ThreadedMotoServer):
        def _server_entry(self) -> None:  # the stock one, plus TLS when asked
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True,
                                       request_handler=MotoRequestHandler, ssl_context=ssl_context)
            self._server_ready_event.set()
            self._server.serve_forever()

    return Moto(ip_address=HOST, port=free_port(), verbose=False)


@pytest.fixture
def s3_server() -> Iterator[Server]:
    """moto's S3 over plain HTTP: botocore sends a checksum header and a Content-Length body."""
    moto = _moto(None)
    moto.start()
    host, port = moto.get_host_and_port()
    yield Server(host, port)
    moto.stop()


@pytest.fixture
def s3_tls_server(tls_cert: tuple[Path, Path]) -> Iterator[Server]:
    """moto's S3 over TLS: botocore streams uploads aws-chunked with a trailing checksum."""
    moto = _moto((str(tls_cert[0]), str(tls_cert[1])))
    moto.start()
    host, port = moto.get_host_and_port()
    yield Server(host, port)
    moto.stop()


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    from aiosmtpd.controller import Controller

    server = Server(HOST, free_port())

    class Sink:
        async def handle_DATA(self, srv, session, envelope):  # noqa: N802 - aiosmtpd hook name
            server.received.append(envelope.content)
            return "250 OK"

    controller = Controller(Sink(), hostname=HOST, port=server.port)
    controller.start()
    yield server
    controller.stop()


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[Server]:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    home = tmp_path / "ftp-home"
    home.mkdir()
    auth = DummyAuthorizer()
    auth.add_user("instrument", "service", str(home), perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": auth, "permit_foreign_addresses": True})
    ftpd = FTPServer((HOST, 0), handler)
    server = Server(HOST, ftpd.address[1], received=[home])
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            ftpd.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        ftpd.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join(5)


@pytest.fixture
def ws_server() -> Iterator[Server]:
    from websockets.asyncio.server import serve

    server = Server(HOST, 0)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stopped: asyncio.Future | None = None

    async def handler(ws) -> None:
        async for message in ws:
            server.received.append(message)
            await ws.send(json.dumps({"ack": len(server.received)}))

    async def main() -> None:
        nonlocal stopped
        stopped = loop.create_future()
        async with serve(handler, HOST, 0) as srv:
            server.port = srv.sockets[0].getsockname()[1]
            ready.set()
            await stopped

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5), "websocket server did not start"
    yield server
    loop.call_soon_threadsafe(stopped.set_result, None)
    thread.join(5)
    loop.close()


@pytest.fixture
def dns_server() -> Iterator[Server]:
    """UDP DNS responder on HOST:53 (an ephemeral port if 53 cannot be bound): A records (HOST) for any
    name under .test, NXDOMAIN for the rest."""
    import dns.message
    import dns.rcode
    import dns.rrset

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((HOST, 53))  # where an instrument's resolver listens (needs root or CAP_NET_BIND_SERVICE)
    except OSError:
        sock.bind((HOST, 0))
    sock.settimeout(0.05)
    server = Server(HOST, sock.getsockname()[1])
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:  # garbage on our port: a real resolver drops it too
                continue
            reply = dns.message.make_response(query)
            q = query.question[0]
            server.received.append(q.name.to_text())
            if q.name.to_text().rstrip(".").endswith(".test"):
                reply.answer.append(dns.rrset.from_text(q.name, 60, "IN", "A", HOST))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join(5)
    sock.close()


# --- assertions on a report ---------------------------------------------------------------------------

CONTENT_KINDS = ("run-bytes", "sequence")
GATING = ("high", "critical")


def content_findings(result: Replay, sim: SimRun, sample: str) -> list[dict[str, Any]]:
    """Run-content findings that name ``sample``, checked against the report contract on the way."""
    hits = [f for f in result.of_kind(*CONTENT_KINDS) if sample in f.get("samples", [])]
    for f in hits:
        assert f["channel"] == "net"
        assert f["flow"].startswith(("tcp ", "udp ")) and INSTRUMENT in f["flow"], f["flow"]
        assert f["chain"] and f["chain"][0] in ("tcp", "udp"), f["chain"]
        assert f["bytes_out"] > 0 and (f["bytes_matched"] > 0 or f["kind"] == "sequence"), f
    return hits


def assert_leak(result: Replay, sim: SimRun, sample: str, *, file: Path | None = None,
                min_fraction: float = 0.0) -> list[dict[str, Any]]:
    """The replay says leak (exit 1) and a high/critical content finding names ``sample`` (and ``file``)."""
    assert result.code == 1 and result.report["verdict"] == "leak", _explain(result)
    hits = [f for f in content_findings(result, sim, sample) if f["severity"] in GATING]
    assert hits, _explain(result)
    if file is not None:
        rel = sim.rel(file)
        matched = [m for f in hits for m in f["files"] if m["path"] == rel]
        assert matched, f"{rel} not among {result.files()}"
        assert max(m["fraction"] for m in matched) >= min_fraction, matched
    return hits


def assert_clean(result: Replay) -> None:
    assert result.code == 0 and result.report["verdict"] == "clean", _explain(result)
    assert not result.of_kind(*CONTENT_KINDS, "identifier"), _explain(result)


def _explain(result: Replay) -> str:
    rows = [f"{f['severity']:8} {f['kind']:14} {f['flow']} files={[m['path'] for m in f['files']]} "
            f"samples={f['samples']} chain={f['chain']}" for f in result.findings]
    return f"exit {result.code}, verdict {result.report.get('verdict')}:\n" + "\n".join(rows)
