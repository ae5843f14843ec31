"""Real servers for the network tap's tests ("the cloud"): HTTPS upload sink, WebSocket, gRPC, raw TLS.

Each records what it received, so a test can say whether the body reached the server (``--block``).
Certificates come from a test CA the rig is told to trust for upstreams (``--upstream-ca``).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


def make_pki(folder: Path, names: list[str]) -> Pki:
    """A test CA and a server certificate for ``names`` (DNS names and IP addresses)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sbx-net test cloud CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(ca_key, hashes.SHA256()))
    pki = Pki(folder / "cloud-ca.pem", folder / "cloud.pem", folder / "cloud.key")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return pki


def server_context(pki: Pki, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert, pki.key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


@dataclass
class Received:
    bodies: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: bytes) -> None:
        with self.lock:
            self.bodies.append(body)

    @property
    def total(self) -> int:
        with self.lock:
            return sum(len(b) for b in self.bodies)


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: Received

    def log_message(self, *args) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def do_POST(self) -> None:
        self.received.add(self._body())
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_PUT = do_POST

    def do_GET(self) -> None:
        self.received.add(b"")
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def https_sink(pki: Pki, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, Received]:
    """An HTTPS server storing every request body; serve_forever runs in a daemon thread."""
    return http_sink(host, port, tls=server_context(pki))


def http_sink(host: str = "127.0.0.1", port: int = 0,
              tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, Received]:
    """An HTTP server (HTTPS with ``tls``) storing every request body; serve_forever runs in a daemon thread."""
    received = Received()
    handler = type("Sink", (_Sink,), {"received": received})
    server = ThreadingHTTPServer((host, port), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received
