"""The Dissector with the real parser registry: real captures, and every parser with the
instrument on either side of the connection (``instrument=[...]`` making it the server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dns.message
import pytest

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapWriter, TcpConversation, udp
from sandbox.model import Observation, Payload
from sandbox.protocols import Dissector
from sandbox.replay import replay
from sandbox.simulate import wire
from tests.protocols.tls_pair import TlsPair, https_exchange

CLIENT, INSTRUMENT = "10.0.0.2", "10.9.0.5"
CHUNKED_JPEG_SHA256 = "526097ea6a3e4df6bfe0b2a5960a5408911c70cee167b34d943420f4a9e38060"   # tshark --export-objects


def dissect(path: Path, instrument: list[str] | None = None) -> tuple[list, Dissector]:
    d = Dissector(instrument)
    items: list = []
    for seg in open_capture(path):
        items += d.feed(seg)
    return items + d.close(), d


def payloads(items: list) -> list[Payload]:
    return [p for p in items if isinstance(p, Payload)]


# --------------------------------------------------------------------------- HTTP/1 pickup junk


@pytest.mark.parametrize("instrument", [None, ["191.236.16.125/32"]])
def test_keepalive_byte_before_the_request_is_no_error(shared_data: Path, instrument: list[str] | None) -> None:
    """The first client byte is a 1-byte TCP keep-alive, then "GET ..." (Wireshark shows it too)."""
    items, d = dissect(shared_data / "captures/http/scapy_http_chunk.pcap.gz", instrument)
    web = next(f for f in d.flows.values() if 80 in (f.sport, f.dport))
    assert web.app == "http/1.1" and not any(f.errors for f in d.flows.values())
    client = "out" if instrument is None else "in"
    assert web.flow.startswith("tcp 192.168.62.91:53226" if instrument is None else "tcp 191.236.16.125:80")
    mine = [p for p in payloads(items) if p.flow == web.flow]
    (junk,) = [p for p in mine if p.chain == ("tcp", "http/1.1 unparsed")]
    assert (junk.data, junk.direction, junk.stream_offset) == (b"\x00", client, 0)
    (head,) = [p for p in mine if p.chain[-1] == "url"]
    assert head.data.startswith(b"GET /httpgallery/chunked/chunkedimage.aspx?0.29") and head.stream_offset == 1
    assert head.direction == client and head.meta["host"] == "www.httpwatch.com"
    (body,) = [p for p in mine if p.chain == ("tcp", "http/1.1 GET /httpgallery/chunked/chunkedimage.aspx")]
    assert body.meta["status"] == 200 and body.direction != client
    assert len(body.data) == 33653 and hashlib.sha256(body.data).hexdigest() == CHUNKED_JPEG_SHA256


# --------------------------------------------------------------------------- detect, either side

DNS_QUERY = dns.message.make_query("sequencer.example", "A")
DNS_ANSWER = dns.message.make_response(DNS_QUERY)


def _framed(msg: dns.message.Message) -> bytes:
    wire = msg.to_wire()
    return len(wire).to_bytes(2, "big") + wire


def _conversation(conv: list[tuple[bool, bytes]] | str, request: pytest.FixtureRequest) -> list[tuple[bool, bytes]]:
    """A literal conversation, or the start of a real TLS 1.3 handshake ("hellos", "alert")."""
    if not isinstance(conv, str):
        return conv
    path = request.getfixturevalue("shared_data") / "captures/tls/illustrated-tls13_capture.pcap"
    client, server = [s.data for s in open_capture(path) if s.data][:2]
    return [(True, client), (False, server if conv == "hellos" else b"\x15\x03\x03\x00\x02\x02\x28")]


SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# id -> (expected app, server port, [(from_client, bytes)]): client or server first, as the protocol does
GREET_SMTP = [(False, b"220 mx.example ESMTP\r\n"), (True, b"EHLO lab\r\n"), (False, b"250 ok\r\n")]
GREET_FTP = [(False, b"220 ready\r\n"), (True, b"USER run42\r\n"), (False, b"331 pass\r\n")]
SMB_SESSION = [(d == "out", data) for d, data in wire.smb_upload("reads.fastq", b"ACGT" * 100)]
CONVERSATIONS = {
    "smb": ("smb", 445, SMB_SESSION),
    "http1": ("http/1.1", 8080, [(True, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
                                 (False, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]),
    "http2": ("http/2", 8080, [(True, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SETTINGS), (False, SETTINGS)]),
    "tls": ("tls", 8400, "hellos"),          # real ClientHello and ServerHello, read in the test
    "tls-refused": ("tls", 8443, "alert"),   # real ClientHello answered by a fatal alert
    "smtp-port-25": ("smtp", 25, GREET_SMTP),
    "smtp-other-port": ("smtp", 2626, GREET_SMTP),
    "ftp-port-21": ("ftp", 21, GREET_FTP),
    "ftp-other-port": ("ftp", 2121, GREET_FTP),
    "dns-tcp": ("dns", 53, [(True, _framed(DNS_QUERY)), (False, _framed(DNS_ANSWER))]),
    "websocket": ("websocket", 9000, [(True, b"\x81\x85abcd" + bytes(c ^ m for c, m in zip(b"hello", b"abcda",
                                                                                             strict=True))),
                                      (False, b"\x81\x02hi")]),
}


def _write(path: Path, port: int, conversation: list[tuple[bool, bytes]]) -> Path:
    with PcapWriter(path) as w:
        c = TcpConversation(w, (CLIENT, 40000), (INSTRUMENT, port), t0=1.0)
        for from_client, data in conversation:
            c.send(data, from_client=from_client)
        c.close()
    return path


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_every_parser_detects_with_the_instrument_as_server(tmp_path: Path, request: pytest.FixtureRequest,
                                                            name: str) -> None:
    app, port, conversation = CONVERSATIONS[name]
    conversation = _conversation(conversation, request)
    pcap = _write(tmp_path / "c.pcap", port, conversation)
    as_client, d1 = dissect(pcap)
    as_server, d2 = dissect(pcap, instrument=[f"{INSTRUMENT}/32"])
    (c,), (s,) = d1.flows.values(), d2.flows.values()
    assert c.flow == f"tcp {CLIENT}:40000 > {INSTRUMENT}:{port}"
    assert s.flow == f"tcp {INSTRUMENT}:{port} > {CLIENT}:40000"
    assert c.app == s.app == app
    assert not c.errors and not s.errors
    flip = {"out": "in", "in": "out"}
    assert sorted((p.chain, p.direction, p.data) for p in payloads(as_client)) == sorted(
        (p.chain, flip[p.direction], p.data) for p in payloads(as_server))
    assert (c.bytes_out, c.bytes_in) == (s.bytes_in, s.bytes_out)


def test_dns_udp_with_the_instrument_as_resolver_and_as_server(tmp_path: Path) -> None:
    pcap = tmp_path / "dns.pcap"
    with PcapWriter(pcap) as w:
        udp(w, (CLIENT, 40000), (INSTRUMENT, 53), DNS_QUERY.to_wire(), t=1.0)
        udp(w, (INSTRUMENT, 53), (CLIENT, 40000), DNS_ANSWER.to_wire(), t=1.1)
    for instrument, first in ((None, f"{CLIENT}:*"), ([f"{INSTRUMENT}/32"], f"{INSTRUMENT}:53")):
        items, d = dissect(pcap, instrument)
        (info,) = d.flows.values()
        assert info.flow.startswith(f"udp {first} > ") and info.app == "dns" and not info.errors
        assert any(b"sequencer" in p.data for p in payloads(items))


def test_junk_before_the_first_line_on_a_server_instrument(tmp_path: Path) -> None:
    """Mid-stream pickup: the server's first bytes are a body's tail; the instrument serves."""
    pcap = _write(tmp_path / "j.pcap", 8080, [(False, b"...end of a body\r\n"),
                                               (True, b"\x00POST /up HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
                                               (False, b"HTTP/1.1 204 No Content\r\n\r\n")])
    items, d = dissect(pcap, instrument=[f"{INSTRUMENT}/32"])
    (info,) = d.flows.values()
    assert info.app == "http/1.1" and not info.errors
    got = {(p.chain[1], p.direction, p.data) for p in payloads(items) if p.chain[-1] != "url"}
    assert got == {("http/1.1 unparsed", "out", b"...end of a body\r\n"), ("http/1.1 unparsed", "in", b"\x00"),
                   ("http/1.1 POST /up", "in", b"abc")}


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_every_detect_is_symmetric_in_the_instrument_side(request: pytest.FixtureRequest, name: str) -> None:
    """Swapping out/in (bytes and ports) never changes any registered parser's answer, at any
    point of the conversation: the instrument may be the client or the server."""
    from sandbox.protocols import STREAM_PARSERS

    _, port, conversation = CONVERSATIONS[name]
    conversation = _conversation(conversation, request)
    sides = {True: b"", False: b""}
    hits = set()
    for from_client, data in conversation:
        sides[from_client] += data
        client, server = sides[True], sides[False]
        for cls in STREAM_PARSERS:
            as_client = cls.detect(client, server, 40000, port)
            assert as_client == cls.detect(server, client, port, 40000), (cls.name, client, server)
            if as_client:
                hits.add(cls.name)
    assert hits


# --------------------------------------------------------------------------- found by content, any port

RUN = "illumina/230825_M04034_0043_000000000-L6NVV"


def _run_bytes(shared_data: Path) -> bytes:
    return (shared_data / RUN / "InterOp" / "ErrorMetricsOut.bin").read_bytes()[:30000]


def _post(body: bytes) -> bytes:
    return b"POST /upload HTTP/1.1\r\nHost: lims.example\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def test_an_http_upload_on_port_9999_is_a_leak(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "http9999.pcap"
    with PcapWriter(path) as w:
        conv = TcpConversation(w, (CLIENT, 40000), ("203.0.113.9", 9999), t0=1.0)
        conv.send(_post(_run_bytes(shared_data)))
        conv.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
        conv.close()
    report = replay([path], [shared_data / RUN], cache_dir=tmp_path / "cache", jobs=1).report
    (leak,) = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["chain"][:2] == ["tcp", "http/1.1 POST /upload"] and leak["destination"] == "lims.example"


def test_tls_on_port_8443_is_decrypted_and_the_upload_inside_is_a_leak(shared_data: Path, tmp_path: Path) -> None:
    pair = TlsPair(tmp_path / "tls", host="lims.example")
    path = tmp_path / "tls8443.pcap"
    with PcapWriter(path) as w:
        conv = TcpConversation(w, (CLIENT, 40001), ("203.0.113.9", 8443), t0=1.0)
        https_exchange(conv, pair, _post(_run_bytes(shared_data)))
    report = replay([path], [shared_data / RUN], keylog=pair.keylog, cache_dir=tmp_path / "cache", jobs=1).report
    (leak,) = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["chain"][:3] == ["tcp", "tls", "http/1.1 POST /upload"] and leak["destination"] == "lims.example"
    assert leak["flow"] == f"tcp {CLIENT}:40001 > 203.0.113.9:8443"


def test_tls_picked_up_mid_connection_on_any_port_is_counted_as_encrypted(tmp_path: Path) -> None:
    records = b"".join(b"\x17\x03\x03" + len(chunk).to_bytes(2, "big") + chunk
                       for chunk in (bytes(range(256)) * 8,) * 6)
    path = tmp_path / "mid.pcap"
    with PcapWriter(path) as w:
        conv = TcpConversation(w, (CLIENT, 40002), ("203.0.113.9", 9443), t0=1.0, handshake=False)
        conv.send(records)
        conv.send(b"\x17\x03\x03\x00\x20" + bytes(32), from_client=False)
    items, d = dissect(path)
    (flow,) = d.flows.values()
    assert flow.app == "tls" and flow.encrypted
    (opaque,) = [o for o in items if isinstance(o, Observation) and o.kind == "encrypted"]
    # no content but each record's first bytes (what a TLS 1.2 sender chooses), in two lanes
    lanes = {p.chain[-1]: p.data for p in payloads(items) if p.data}
    assert opaque.bytes_out == 6 * 2048
    assert lanes == {"explicit nonces": bytes(range(8)) * 6, "explicit IVs": bytes(range(16)) * 6}


@pytest.mark.parametrize(("trace", "port", "app"), [
    ("zeek__smtp.pcap", 5223, "tls"),                                  # Apple push, picked up mid-connection
    ("zeek__ssh__ssh.pcap", 8118, "tls"),                              # mid-connection through a proxy
    ("zeek__tunnels__socks.pcap", 1080, "http/1.1"),                   # HTTP after a SOCKS handshake
    ("zeek__http__zeek-image-post-1080-8000-x.pcap", 1080, "http/1.1"),
    ("zeek__tls__ssl-to-http-server.pcap", 80, "tls"),                 # a ClientHello sent to port 80
])
def test_public_traces_protocols_found_by_content(shared_data: Path, trace: str, port: int, app: str) -> None:
    _, d = dissect(shared_data / "captures" / "public-traces" / trace)
    assert {f.app for f in d.flows.values() if port in (f.sport, f.dport) and f.transport == "tcp"} == {app}
