"""TLS decryption through tshark with a key log: public captures, a live capture, embedded secrets."""

from __future__ import annotations

import datetime
import http.server
import os
import shutil
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.captures import open_capture
from sandbox.model import Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols.tls_decrypt import TlsDecryptError, command, decrypt, interleave, parse_line
from tests.loopback import record_lo

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

TLS = "captures/tls"
BODY = b"@r1\nACGTACGTTTGACCA\n+\nIIIIIIIIIIIIIII\n" * 3000   # ~150 KB: many records and segments


def follow_tls(pcap: Path, keylog: Path | None, stream: int = 0) -> list[bytes]:
    """The oracle: tshark's own "Follow TLS Stream", both directions' plaintext, sorted."""
    cmd = ["tshark", "-r", str(pcap), "-q", "-z", f"follow,tls,raw,{stream}"]
    if keylog:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    sides = {True: b"", False: b""}
    for line in text.split("Node 1:", 1)[1].split("\n", 1)[1].splitlines():
        if line.strip() and not line.startswith("="):
            sides[line.startswith("\t")] += bytes.fromhex(line.strip())
    return sorted(sides.values())


def by_direction(segs: list[Segment]) -> list[bytes]:
    sides: dict[tuple[str, int], bytes] = {}
    for s in segs:
        sides[(s.src, s.sport)] = sides.get((s.src, s.sport), b"") + s.data
    return sorted(sides.values())


@pytest.mark.parametrize("version", ["12", "13"])
def test_illustrated_captures_match_tshark_follow(shared_data: Path, version: str) -> None:
    pcap = shared_data / TLS / f"illustrated-tls{version}_capture.pcap"
    keylog = shared_data / TLS / f"illustrated-tls{version}_keylog.txt"
    segs = list(decrypt(pcap, keylog))
    assert by_direction(segs) == follow_tls(pcap, keylog) == [b"ping", b"pong"]
    ping = next(s for s in segs if s.data == b"ping")
    assert ping.transport == "tls" and ping.channel == "net" and ping.frame > 0 and ping.t > 1.5e9
    assert [s.frame for s in segs] == sorted(s.frame for s in segs)
    # the same key log as bytes (as Capture.tls_secrets hands it over)
    assert [s.data for s in decrypt(pcap, keylog.read_bytes())] == [s.data for s in segs]


def test_without_keys_nothing_is_decrypted(shared_data: Path) -> None:
    assert list(decrypt(shared_data / TLS / "illustrated-tls13_capture.pcap")) == []


def test_missing_tshark_and_bad_input_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(TlsDecryptError):
        list(decrypt(tmp_path / "x.pcap", None, tshark="/nonexistent/tshark"))
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    with pytest.raises(TlsDecryptError):
        list(decrypt(bad))


def test_parse_line_takes_the_inner_ip_of_tunnelled_packets() -> None:
    line = "7\t1.5\t10.9.9.1,10.0.0.2\t\t5000\t10.9.9.2,10.0.0.1\t\t443\t3\t6869,7468657265\n"
    seg = parse_line(line)
    assert seg is not None and (seg.src, seg.sport, seg.dst, seg.dport) == ("10.0.0.2", 5000, "10.0.0.1", 443)
    assert seg.data == b"hithere" and seg.frame == 7 and seg.meta == {"tcp_stream": 3}
    assert parse_line("1\t1.0\t\t\t\t\t\t\t\t\n") is None


# --------------------------------------------------------------------------- live capture


class _Upload(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "8")
        self.end_headers()
        self.wfile.write(b"received")

    def log_message(self, *args: object) -> None:
        pass


def _cert(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    c, k = tmp / "cert.pem", tmp / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


@pytest.fixture(scope="module")
def live_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """requests -> Python ssl server on 127.0.0.1, TLS 1.2 and 1.3, SSLKEYLOGFILE, dumpcap on lo."""
    tmp = tmp_path_factory.mktemp("tlslive")
    cert, key = _cert(tmp)
    keylog = tmp / "keylog.txt"
    servers = []
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upload)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.maximum_version = version
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    ports = [s.server_address[1] for s in servers]
    pcap = tmp / "tls.pcapng"
    old = os.environ.get("SSLKEYLOGFILE")
    os.environ["SSLKEYLOGFILE"] = str(keylog)   # urllib3 reads it when it builds its context
    try:
        with record_lo(pcap, "host 127.0.0.1 and (" + " or ".join(f"tcp port {p}" for p in ports) + ")"):
            for port in ports:
                with requests.Session() as s:
                    r = s.post(f"https://localhost:{port}/upload", data=BODY, verify=str(cert),
                               headers={"Connection": "close"})
                    assert r.content == b"received"
    finally:
        if old is None:
            os.environ.pop("SSLKEYLOGFILE", None)
        else:
            os.environ["SSLKEYLOGFILE"] = old
        for srv in servers:
            srv.shutdown()
            srv.server_close()
    assert keylog.stat().st_size > 0
    return pcap, keylog


@pytest.mark.e2e
def test_live_capture_decrypts_both_versions(live_capture: tuple[Path, Path]) -> None:
    pcap, keylog = live_capture
    segs = list(decrypt(pcap, keylog))
    streams = sorted({s.meta["tcp_stream"] for s in segs})
    assert len(streams) == 2
    for n in streams:
        mine = by_direction([s for s in segs if s.meta["tcp_stream"] == n])
        assert mine == follow_tls(pcap, keylog, n)
        request = max(mine, key=len)
        assert request.startswith(b"POST /upload HTTP/1.1") and request.endswith(BODY)


@pytest.mark.e2e
def test_live_capture_through_the_dissector(live_capture: tuple[Path, Path]) -> None:
    pcap, keylog = live_capture
    d = Dissector()
    items = []
    for seg in interleave(open_capture(pcap), decrypt(pcap, keylog)):
        items += d.feed(seg)
    items += d.close()
    bodies = [p for p in items if isinstance(p, Payload) and p.chain[:2] == ("tcp", "tls")
              and p.direction == "out" and BODY in p.data]
    assert len(bodies) == 2 and all("POST" in p.chain[2] for p in bodies)
    flows = [f for f in d.flows.values() if f.decrypted]
    assert len(flows) == 2 and all(f.encrypted and f.meta["sni"] == "localhost" for f in flows)
    assert {f.meta["tls_version"] for f in flows} == {"TLS 1.2", "TLS 1.3"}


@pytest.mark.e2e
def test_secrets_embedded_with_editcap(live_capture: tuple[Path, Path], tmp_path: Path) -> None:
    pcap, keylog = live_capture
    if shutil.which("editcap") is None:
        pytest.skip("editcap not installed")
    dsb = tmp_path / "with-secrets.pcapng"
    subprocess.run(["editcap", "--inject-secrets", f"tls,{keylog}", str(pcap), str(dsb)], check=True,
                   capture_output=True)
    cap = open_capture(dsb)
    for _ in cap:
        pass
    assert cap.tls_secrets and b"CLIENT_TRAFFIC_SECRET_0" in cap.tls_secrets
    expected = [s.data for s in decrypt(pcap, keylog)]
    assert [s.data for s in decrypt(dsb)] == expected            # tshark reads the block itself
    assert [s.data for s in decrypt(dsb, cap.tls_secrets)] == expected


def test_command_is_one_tshark_pass_with_handoffs_disabled(tmp_path: Path) -> None:
    cmd = command(tmp_path / "c.pcap", tmp_path / "k.txt")
    assert cmd.count("-r") == 1 and "fields" in cmd
    disabled = {cmd[i + 1] for i, a in enumerate(cmd) if a == "--disable-protocol"}
    assert {"http", "http2", "smtp"} <= disabled and "tls" not in disabled
    assert f"tls.keylog_file:{tmp_path / 'k.txt'}" in cmd
