"""FTP control parsing and data-connection linking: written pcaps, and ftplib -> pyftpdlib on lo."""

from __future__ import annotations

import ftplib
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.model import FlowInfo, Payload
from sandbox.protocols import Dissector
from sandbox.protocols.context import FlowContext
from sandbox.protocols.ftp import FtpParser, parse_eprt_arg, parse_port_arg
from tests.loopback import record_lo

READS = b"".join(b"@read%d\nACGTTGCA%sTTAG\n+\n%s\n" % (i, b"ACGT" * 10, b"I" * 52) for i in range(3000))
CLIENT, SERVER = ("10.0.0.2", 50001), ("10.0.0.9", 21)


def dissect_file(path: Path) -> tuple[list, Dissector]:
    d = Dissector()
    items: list = []
    for seg in open_capture(path):
        items += d.feed(seg)
    return items + d.close(), d


def chains(items: list, prefix: str) -> list[Payload]:
    return [p for p in items if isinstance(p, Payload) and len(p.chain) > 1 and p.chain[1].startswith(prefix)]


def data_of(items: list, label: str) -> bytes:
    """All bytes of the Payloads labelled ``label``, in stream order."""
    ps = sorted((p for p in items if isinstance(p, Payload) and p.chain == ("tcp", label)),
                key=lambda p: p.stream_offset or 0)
    return b"".join(p.data for p in ps)


def test_port_and_eprt_arguments() -> None:
    assert parse_port_arg(b"10,0,0,2,195,80") == ("10.0.0.2", 50000)
    assert parse_port_arg(b"Entering Passive Mode (10,0,0,9,117,49).") == ("10.0.0.9", 30001)
    assert parse_port_arg(b"300,0,0,1,1,1") is None and parse_port_arg(b"nothing") is None
    assert parse_eprt_arg(b"|1|132.235.1.2|6275|") == ("132.235.1.2", 6275)
    assert parse_eprt_arg(b"|2|::1|6275|") == ("::1", 6275)
    assert parse_eprt_arg(b"|1|x|") is None


def _session(tmp: Path, passive: str) -> Path:
    """A control connection and its data connection, written packet by packet."""
    pcap = tmp / f"ftp-{passive}.pcap"
    data_port = 30001
    with PcapWriter(pcap) as w:
        ctl = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        ctl.send(b"220 FTP server ready\r\n", from_client=False)
        ctl.send(b"USER sequencer\r\n")
        ctl.send(b"331 Password required\r\n", from_client=False)
        ctl.send(b"PASS hunter2\r\n")
        ctl.send(b"230 Logged in\r\n", from_client=False)
        if passive == "pasv":
            ctl.send(b"PASV\r\n")
            ctl.send(b"227 Entering Passive Mode (10,0,0,9,117,49).\r\n", from_client=False)
        else:
            ctl.send(b"EPSV\r\n")
            ctl.send(b"229 Entering Extended Passive Mode (|||30001|)\r\n", from_client=False)
        ctl.send(b"STOR run_42/reads.fastq\r\n")
        ctl.send(b"150 Ok to send data\r\n", from_client=False)
        data = TcpConversation(w, (CLIENT[0], 50002), (SERVER[0], data_port), t0=2.0)
        data.send(READS)
        data.close()
        ctl.send(b"226 Transfer complete\r\n", from_client=False)
        ctl.send(b"QUIT\r\n")
        ctl.close()
    return pcap


@pytest.mark.parametrize("passive", ["pasv", "epsv"])
def test_passive_data_connection_is_linked(tmp_path: Path, passive: str) -> None:
    items, d = dissect_file(_session(tmp_path, passive))
    assert [p.data for p in chains(items, "ftp USER")] == [b"sequencer"]
    # the password: no payload of its own, only in the stream of command lines (the instrument's to fill)
    assert not chains(items, "ftp PASS")
    assert {p.chain[-1] for p in items if isinstance(p, Payload) and b"hunter2" in p.data} == {
        "ftp commands", "ftp arguments"}
    (stor,) = [p for p in items if isinstance(p, Payload) and p.chain == ("tcp", "ftp STOR")]
    assert stor.data == b"run_42/reads.fastq" and stor.meta["filename"] == "run_42/reads.fastq"
    assert data_of(items, "ftp STOR run_42/reads.fastq") == READS
    piece = chains(items, "ftp STOR run_42/reads.fastq")[0]
    assert piece.meta["filename"] == "run_42/reads.fastq" and piece.meta["transfer"] == "upload"
    apps = {f.dport: f.app for f in d.flows.values()}
    assert apps == {21: "ftp", 30001: "ftp-data"}
    ctl = next(f for f in d.flows.values() if f.dport == 21)
    assert ctl.meta["ftp_user"] == "sequencer" and not ctl.errors


@pytest.mark.parametrize("instrument", [None, [f"{SERVER[0]}/32"]])
def test_active_data_connection_is_linked_whichever_side_is_the_instrument(tmp_path: Path,
                                                                        instrument: list[str] | None) -> None:
    """PORT: the server connects back from port 20 to the client's announced endpoint."""
    pcap = tmp_path / "active.pcap"
    with PcapWriter(pcap) as w:
        ctl = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        ctl.send(b"220 FTP server ready\r\n", from_client=False)
        ctl.send(b"USER sequencer\r\n")
        ctl.send(b"230 Logged in\r\n", from_client=False)
        ctl.send(b"PORT 10,0,0,2,195,80\r\n")
        ctl.send(b"200 PORT ok\r\n", from_client=False)
        ctl.send(b"RETR run_42/reads.fastq\r\n")
        ctl.send(b"150 Opening data connection\r\n", from_client=False)
        data = TcpConversation(w, (SERVER[0], 20), (CLIENT[0], 50000), t0=2.0)
        data.send(READS)
        data.close()
        ctl.send(b"226 Transfer complete\r\n", from_client=False)
        ctl.close()
    d = Dissector(instrument)
    items = [x for seg in open_capture(pcap) for x in d.feed(seg)] + d.close()
    assert data_of(items, "ftp RETR run_42/reads.fastq") == READS
    (flow,) = [f for f in d.flows.values() if f.app == "ftp-data"]
    assert 20 in (flow.sport, flow.dport) and flow.meta["filename"] == "run_42/reads.fastq"
    assert not any(f.errors for f in d.flows.values())


def test_two_transfers_on_one_endpoint_and_claims_used_once(tmp_path: Path) -> None:
    """A second STOR without a new PASV claims the endpoint again; a later stray connection to it
    (no transfer announced) is not taken for FTP data."""
    pcap = tmp_path / "twice.pcap"
    with PcapWriter(pcap) as w:
        ctl = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        ctl.send(b"220 FTP server ready\r\n", from_client=False)
        ctl.send(b"USER sequencer\r\n")
        ctl.send(b"227 Entering Passive Mode (10,0,0,9,117,49).\r\n", from_client=False)
        for i, name in enumerate((b"a.fastq", b"b.fastq")):
            data = TcpConversation(w, (CLIENT[0], 50002 + i), (SERVER[0], 30001), t0=2.0 + i)
            data.handshake()   # passive: the client connects before it names the file
            ctl.send(b"STOR " + name + b"\r\n")
            ctl.send(b"150 Ok to send data\r\n", from_client=False)
            data.send(READS[: 1000 * (i + 1)])
            data.close()
            ctl.send(b"226 Transfer complete\r\n", from_client=False)
        stray = TcpConversation(w, (CLIENT[0], 50009), (SERVER[0], 30001), t0=5.0)
        stray.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        stray.close()
        ctl.close()
    items, d = dissect_file(pcap)
    assert data_of(items, "ftp STOR a.fastq") == READS[:1000]
    assert data_of(items, "ftp STOR b.fastq") == READS[:2000]
    assert [f.app for f in d.flows.values() if f.dport == 30001] == ["ftp-data", "ftp-data", "http/1.1"]


def test_two_dissectors_do_not_share_data_links(tmp_path: Path) -> None:
    pcap = tmp_path / "pasv.pcap"
    with PcapWriter(pcap) as w:   # a control connection announcing 10.0.0.9:30001, never used
        ctl = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        ctl.send(b"220 FTP server ready\r\n", from_client=False)
        ctl.send(b"USER sequencer\r\n")
        ctl.send(b"227 Entering Passive Mode (10,0,0,9,117,49).\r\n", from_client=False)
    other = tmp_path / "other.pcap"
    with PcapWriter(other) as w:   # another capture: a plain connection to that same endpoint
        c = TcpConversation(w, (CLIENT[0], 50003), (SERVER[0], 30001), t0=1.0)
        c.send(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        c.close()
    first, second = Dissector(), Dissector()
    for seg in open_capture(pcap):
        first.feed(seg)
    items = [x for seg in open_capture(other) for x in second.feed(seg)] + second.close()
    (info,) = second.flows.values()
    assert info.app == "http/1.1" and "ftp_control" not in info.meta
    assert [p.chain for p in items if isinstance(p, Payload)] == [("tcp", "http/1.1 GET /status", "url")]
    assert len(first.shared["claims"]) == 1 and not second.shared.get("claims")


def test_control_parser_total_on_garbage() -> None:
    info = FlowInfo(flow="tcp f", channel="net", transport="tcp", src="10.0.0.2", sport=5, dst="10.0.0.9", dport=21)
    ctx = FlowContext(flow="tcp f", info=info, shared={})
    p = FtpParser(ctx)
    out = p.feed("out", b"\x00\x01garbage\r\n" + b"x" * 20000, 1.0) + p.gap("out", 10) + p.close(2.0)
    assert info.errors and all(isinstance(x, Payload) for x in out)
    assert sum(len(x.data) for x in out) >= 20000   # nothing silently dropped


def test_auth_tls_hands_the_control_channel_to_the_tls_parser(shared_data: Path) -> None:
    info = FlowInfo(flow="tcp f", channel="net", transport="tcp", src="10.0.0.2", sport=5, dst="10.0.0.9", dport=21)
    ctx = FlowContext(flow="tcp f", info=info, shared={})
    p = FtpParser(ctx)
    # a real TLS 1.3 client hello (from the illustrated-tls13 capture) after "234"
    hello = next(s.data for s in open_capture(shared_data / "captures/tls/illustrated-tls13_capture.pcap")
                 if s.data)
    out = (p.feed("in", b"220 ready\r\n", 1.0) + p.feed("out", b"AUTH TLS\r\n", 1.1)
           + p.feed("in", b"234 AUTH TLS ok\r\n", 1.2) + p.feed("out", hello, 1.3) + p.close(2.0))
    assert info.encrypted and info.meta["sni"] == "example.ulfheim.net" and info.meta["ftp_auth"] == "TLS"
    assert [o.chain for o in out] == [("tcp", "ftp AUTH"), ("tcp", "ftp commands"), ("tcp", "ftp arguments"),
                                      ("tcp", "ftp AUTH TLS", "tls sni"),
                                      ("tcp", "ftp AUTH TLS", "tls", "handshake"), ("tcp", "ftp AUTH TLS", "tls")]
    assert out[1].data == b"AUTH TLS\r\n" and out[2].data == b"TLS\n"     # the lines before TLS began
    assert out[4].data == hello[5:]     # the hello's one record, its message whole


# --------------------------------------------------------------------------- live: ftplib -> pyftpdlib


HOST = "127.0.21.21"   # a loopback address of our own: the capture filter sees only this test


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[int]:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    home = tmp_path / "home"
    home.mkdir()
    auth = DummyAuthorizer()
    auth.add_user("sequencer", "hunter2", str(home), perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": auth, "banner": "bench ftp"})
    server = FTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    try:
        yield server.address[1]
    finally:
        server.close_all()
        thread.join(5)


@pytest.mark.e2e
def test_live_active_and_passive_transfers(tmp_path: Path, ftp_server: int) -> None:
    pcap = tmp_path / "ftp.pcapng"
    with record_lo(pcap, f"host {HOST} and tcp"):
        for passive in (True, False):
            with ftplib.FTP() as ftp:
                ftp.connect(HOST, ftp_server, timeout=10)
                ftp.login("sequencer", "hunter2")
                ftp.set_pasv(passive)
                name = "reads-pasv.fastq" if passive else "reads-port.fastq"
                ftp.storbinary(f"STOR {name}", io.BytesIO(READS))
                back = io.BytesIO()
                ftp.retrbinary(f"RETR {name}", back.write)
                assert back.getvalue() == READS
    items, d = dissect_file(pcap)
    for name in ("reads-pasv.fastq", "reads-port.fastq"):
        assert data_of(items, f"ftp STOR {name}") == READS, name
        assert data_of(items, f"ftp RETR {name}") == READS, name
        assert [p.data for p in chains(items, "ftp STOR") if p.chain == ("tcp", "ftp STOR")
                and p.data == name.encode()]
    assert [p.data for p in chains(items, "ftp USER")] == [b"sequencer", b"sequencer"]
    assert {p.chain[-1] for p in items if isinstance(p, Payload) and b"hunter2" in p.data} <= {
        "ftp commands", "ftp arguments"}
    apps = sorted(f.app for f in d.flows.values())
    assert apps.count("ftp") == 2 and apps.count("ftp-data") >= 4
    assert not any(f.errors for f in d.flows.values())
