"""TLS in a replay, decrypted in process with a key log or the keys a capture carries: public captures,
a live capture, embedded secrets, STARTTLS, SOCKS; tshark's own "Follow TLS Stream" is the oracle."""

from __future__ import annotations

import base64
import http.server
import os
import shutil
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.model import Payload, Segment
from sandbox.protocols import Dissector
from sandbox.replay import replay
from sandbox.session import CaptureSource
from tests.loopback import record_lo
from tests.protocols.tls_pair import TlsPair, https_exchange, self_signed

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

TLS = "captures/tls"
BODY = b"@r1\nACGTACGTTTGACCA\n+\nIIIIIIIIIIIIIII\n" * 3000   # ~150 KB: many records and segments


def replayed(pcap: Path, keylog: Path | bytes | None = None) -> list[Segment]:
    """Every Segment a replay of ``pcap`` hands the Dissector, the keys given and those it carries."""
    source = CaptureSource(pcap, keylog.read_bytes() if isinstance(keylog, Path) else keylog or b"")
    out: list[Segment] = []
    while not source.done:
        out += source.poll(10_000)
    source.close()
    return out


def decrypt(pcap: Path, keylog: Path | bytes | None = None) -> list[Segment]:
    """The TLS application data of a replay of ``pcap`` (not the other records' content)."""
    return [s for s in replayed(pcap, keylog) if s.transport == "tls" and not s.meta]


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


@pytest.fixture(scope="module")
def live_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """requests -> Python ssl server on 127.0.0.1, TLS 1.2 and 1.3, SSLKEYLOGFILE, dumpcap on lo."""
    tmp = tmp_path_factory.mktemp("tlslive")
    cert, key = self_signed(tmp, ["localhost"])
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
    streams = list(dict.fromkeys(frozenset(((s.src, s.sport), (s.dst, s.dport))) for s in segs))   # capture order
    assert len(streams) == 2
    for n, stream in enumerate(streams):
        mine = by_direction([s for s in segs if frozenset(((s.src, s.sport), (s.dst, s.dport))) == stream])
        assert mine == follow_tls(pcap, keylog, n)
        request = max(mine, key=len)
        assert request.startswith(b"POST /upload HTTP/1.1") and request.endswith(BODY)


@pytest.mark.e2e
def test_live_capture_through_the_dissector(live_capture: tuple[Path, Path]) -> None:
    pcap, keylog = live_capture
    d = Dissector()
    items = []
    for seg in replayed(pcap, keylog):
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


@pytest.mark.e2e
def test_secrets_embedded_by_the_rig(live_capture: tuple[Path, Path], tmp_path: Path) -> None:
    """The rig's own Decryption Secrets Block (which keeps the statistics editcap drops): tshark reads it."""
    from sandbox.captures.pcapng import inject_secrets

    pcap, keylog = live_capture
    dsb = tmp_path / "with-secrets.pcapng"
    plain = tmp_path / "as.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(plain)], check=True, capture_output=True)
    with open(plain, "rb") as src, open(dsb, "wb") as dst:
        inject_secrets(src, dst, keylog.read_bytes())
    expected = [s.data for s in decrypt(pcap, keylog)]
    assert expected and [s.data for s in decrypt(dsb)] == expected


# --------------------------------------------------------------------------- STARTTLS

MAIL = b"Subject: run\r\n\r\n" + b"GATTACA" * 300 + b"\r\n"


def _smtp(w: PcapWriter, pair: TlsPair, mss: int) -> None:
    c = TcpConversation(w, ("10.0.0.2", 40001), ("10.0.0.9", 25), t0=1.0, mss=mss)
    for from_client, line in ((False, b"220 mail.example ESMTP\r\n"), (True, b"EHLO rig\r\n"),
                              (False, b"250-mail.example\r\n250 STARTTLS\r\n"), (True, b"STARTTLS\r\n"),
                              (False, b"220 go ahead\r\n")):
        c.send(line, from_client=from_client)
    for from_client, flight in pair.handshake():
        c.send(flight, from_client=from_client)
    c.send(pair.seal(b"EHLO rig\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"))
    c.send(pair.seal(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", from_client=False), from_client=False)
    c.send(pair.seal(MAIL + b".\r\nQUIT\r\n"))
    c.send(pair.seal(b"250 queued\r\n221 bye\r\n", from_client=False), from_client=False)
    c.close()


def _imap(w: PcapWriter, pair: TlsPair, mss: int) -> None:
    c = TcpConversation(w, ("10.0.0.2", 40002), ("10.0.0.9", 143), t0=1.0, mss=mss)
    for from_client, line in ((False, b"* OK IMAP4rev1 ready\r\n"), (True, b"a1 STARTTLS\r\n"),
                              (False, b"a1 OK Begin TLS negotiation now\r\n")):
        c.send(line, from_client=from_client)
    for from_client, flight in pair.handshake():
        c.send(flight, from_client=from_client)
    c.send(pair.seal(b"a2 APPEND INBOX {%d}\r\n" % len(MAIL)))
    c.send(pair.seal(b"+ Ready\r\n", from_client=False), from_client=False)
    c.send(pair.seal(MAIL + b"\r\n"))
    c.send(pair.seal(b"a2 OK APPEND completed\r\n", from_client=False), from_client=False)
    c.close()


def _client_plaintext(segs: list[Segment], port: int) -> bytes:
    return b"".join(s.data for s in segs if s.dport == port)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
@pytest.mark.parametrize("mss", [1460, 3], ids=["mss1460", "mss3"])    # 3: the ClientHello cut everywhere
@pytest.mark.parametrize(("write", "port"), [(_smtp, 25), (_imap, 143)], ids=["smtp", "imap"])
def test_starttls_is_decrypted_however_the_client_hello_is_cut(tmp_path: Path, version, mss, write, port) -> None:
    pair = TlsPair(tmp_path / "tls", version)
    pcap = tmp_path / "starttls.pcap"
    with PcapWriter(pcap) as w:
        write(w, pair, mss)
    sent = _client_plaintext(list(decrypt(pcap, pair.keylog)), port)
    assert MAIL in sent and (b"MAIL FROM:<a@x>" if port == 25 else b"a2 APPEND INBOX") in sent


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def test_ftp_auth_tls_and_its_protected_data_connection_are_decrypted(tmp_path: Path, version) -> None:
    control, data = TlsPair(tmp_path / "control", version), TlsPair(tmp_path / "data", version)
    pcap = tmp_path / "ftps.pcap"
    with PcapWriter(pcap) as w:
        c = TcpConversation(w, ("10.0.0.2", 40003), ("10.0.0.9", 21), t0=1.0)
        c.send(b"220 ftp ready\r\n", from_client=False)
        c.send(b"AUTH TLS\r\n")
        c.send(b"234 AUTH TLS ok\r\n", from_client=False)
        for from_client, flight in control.handshake():
            c.send(flight, from_client=from_client)
        for line, reply in ((b"USER run\r\n", b"331 pw\r\n"), (b"PASS x\r\n", b"230 ok\r\n"),
                            (b"PBSZ 0\r\nPROT P\r\n", b"200 ok\r\n200 ok\r\n"),
                            (b"PASV\r\n", b"227 Entering Passive Mode (10,0,0,9,195,80)\r\n")):
            c.send(control.seal(line))
            c.send(control.seal(reply, from_client=False), from_client=False)
        c.send(control.seal(b"STOR reads.fastq\r\n"))
        c.send(control.seal(b"150 ok\r\n", from_client=False), from_client=False)
        d = TcpConversation(w, ("10.0.0.2", 40004), ("10.0.0.9", 50000), t0=2.0)
        for from_client, flight in data.handshake():
            d.send(flight, from_client=from_client)
        d.send(data.seal(MAIL))
        d.close()
        c.send(control.seal(b"226 done\r\n", from_client=False), from_client=False)
        c.close()
    keylog = tmp_path / "keys.txt"
    keylog.write_bytes(control.keylog.read_bytes() + data.keylog.read_bytes())
    segs = list(decrypt(pcap, keylog))
    assert b"STOR reads.fastq" in _client_plaintext(segs, 21) and _client_plaintext(segs, 50000) == MAIL


def test_a_run_file_mailed_over_starttls_is_a_leak(shared_data: Path, tmp_path: Path) -> None:
    run = shared_data / "illumina" / "230825_M04034_0043_000000000-L6NVV"
    body = (run / "InterOp" / "ErrorMetricsOut.bin").read_bytes()[:20000]
    pair = TlsPair(tmp_path / "tls")
    pcap = tmp_path / "mail.pcap"
    with PcapWriter(pcap) as w:
        c = TcpConversation(w, ("10.0.0.2", 40001), ("10.0.0.9", 587), t0=1.0)
        for from_client, line in ((False, b"220 mx ESMTP\r\n"), (True, b"EHLO rig\r\n"),
                                  (False, b"250 STARTTLS\r\n"), (True, b"STARTTLS\r\n"), (False, b"220 go\r\n")):
            c.send(line, from_client=from_client)
        for from_client, flight in pair.handshake():
            c.send(flight, from_client=from_client)
        c.send(pair.seal(b"EHLO rig\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"))
        c.send(pair.seal(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", from_client=False), from_client=False)
        encoded = base64.encodebytes(body).replace(b"\n", b"\r\n")
        c.send(pair.seal(b"Subject: run\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n.\r\nQUIT\r\n"))
        c.close()
    report = replay([pcap], [run], keylog=pair.keylog, cache_dir=tmp_path / "cache", jobs=1).report
    (leak,) = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["flow"] == "tcp 10.0.0.2:40001 > 10.0.0.9:587" and leak["chain"][:3] == ["tcp", "tls", "smtp DATA"]


# --------------------------------------------------------------------------- TLS behind a SOCKS proxy

SOCKS5_OPENING = [(True, b"\x05\x01\x00"), (False, b"\x05\x00"),
                  (True, b"\x05\x01\x00\x03\x0dcloud.example\x01\xbb"), (False, b"\x05\x00\x00\x01\x0a\x00\x00\x09\x01\xbb")]
SOCKS4A_OPENING = [(True, b"\x04\x01\x01\xbb\x00\x00\x00\x01rig\x00cloud.example\x00"),
                   (False, b"\x00\x5a\x01\xbb\x0a\x00\x00\x09")]


def _through_socks(tmp_path: Path, port: int, opening, body: bytes) -> tuple[Path, Path]:
    """An HTTPS upload through a SOCKS proxy listening on ``port`` (the tap's --mode socks5)."""
    pair = TlsPair(tmp_path / f"tls{port}", host="cloud.example")
    pcap = tmp_path / f"socks{port}.pcap"
    with PcapWriter(pcap) as w:
        c = TcpConversation(w, ("10.0.0.2", 40001), ("10.0.0.7", port), t0=1.0)
        for from_client, data in opening:
            c.send(data, from_client=from_client)
        https_exchange(c, pair, b"POST /upload HTTP/1.1\r\nHost: cloud.example\r\nContent-Length: %d\r\n\r\n"
                       % len(body) + body)
    return pcap, pair.keylog


@pytest.mark.parametrize(("port", "opening"), [(9050, SOCKS5_OPENING), (1081, SOCKS4A_OPENING),
                                               (1080, SOCKS5_OPENING), (1080, SOCKS4A_OPENING)])
def test_tls_behind_a_socks_proxy_on_any_port_is_decrypted_on_its_connection(tmp_path: Path, port, opening) -> None:
    pcap, keylog = _through_socks(tmp_path, port, opening, BODY)
    plain = decrypt(pcap, keylog)
    # named by the connection's ports (on 1080 tshark's SOCKS dissector names it by the port asked for, 443)
    assert {(s.sport, s.dport) for s in plain} == {(40001, port), (port, 40001)}
    got = b"".join(s.data for s in plain if s.dport == port)
    assert got.startswith(b"POST /upload HTTP/1.1") and got.endswith(BODY)


@pytest.mark.parametrize("port", [1080, 9050])
def test_a_run_file_uploaded_through_a_socks_proxy_is_a_leak(shared_data: Path, tmp_path: Path, port: int) -> None:
    run = shared_data / "illumina" / "230825_M04034_0043_000000000-L6NVV"
    body = (run / "InterOp" / "ErrorMetricsOut.bin").read_bytes()[:20000]
    pcap, keylog = _through_socks(tmp_path, port, SOCKS5_OPENING, body)
    report = replay([pcap], [run], keylog=keylog, cache_dir=tmp_path / "cache", jobs=1).report
    (leak,) = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["flow"] == f"tcp 10.0.0.2:40001 > 10.0.0.7:{port}" and leak["chain"][:3] == [
        "tcp", "tls", "http/1.1 POST /upload"]


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("dumpcap") is None,
                    reason="openssl or dumpcap not installed")
def test_reads_sent_as_tls_early_data_are_a_leak(tmp_path: Path) -> None:
    """TLS 1.3 0-RTT: an upload of reads sent before the handshake completes (OpenSSL's client and
    server, recorded on loopback).  Before, it replayed inconclusive: its early data counted as a
    suite the rig does not decrypt, and nothing the client sent after its EndOfEarlyData decrypted."""
    import gzip

    from sandbox.simulate import ensure_demo
    from tests.protocols.early_data import early_data_capture

    run = ensure_demo(Path(__file__).resolve().parents[2] / "captures" / "demo")[0]
    reads = gzip.decompress(next(run.rglob("*.fastq.gz")).read_bytes())[:12000]
    request = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(reads), reads)
    pcap, keylog, said = early_data_capture(tmp_path / "early", request, b"bye\n")
    assert "Early data was accepted" in said
    (tmp_path / "keys.log").write_bytes(keylog)
    report = replay([pcap], [run], keylog=tmp_path / "keys.log", cache_dir=tmp_path / "cache", jobs=1).report
    assert report["verdict"] == "leak" and report["not_examined"] == []
    assert ["tcp", "tls", "http/1.1 POST /up"] in [f["chain"] for f in report["findings"] if f["kind"] == "run-bytes"]
