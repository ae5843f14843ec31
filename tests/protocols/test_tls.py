"""TLS metadata parser: real handshakes made in memory by Python's ssl (MemoryBIO), real captures."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from sandbox.captures import open_capture
from sandbox.model import FlowInfo, Observation, Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols.context import FlowContext
from sandbox.protocols.tls import (
    TlsParser,
    hello_values,
    looks_like_tls,
    looks_like_tls_records,
    parse_client_hello,
)
from tests.protocols.tls_pair import self_signed

Conversation = list[tuple[str, bytes]]


def tls_conversation(tmp: Path, version: ssl.TLSVersion, upload: bytes, sni: str = "upload.vendor.test",
                     alpn: list[str] | None = None) -> Conversation:
    """A real TLS session (handshake, upload, reply, close) between two in-memory ssl objects."""
    cert, key = self_signed(tmp, [sni, "alt.vendor.test"])
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    sctx.maximum_version = version
    cctx = ssl.create_default_context(cafile=str(cert))
    cctx.maximum_version = version
    if alpn:
        cctx.set_alpn_protocols(alpn)
        sctx.set_alpn_protocols(alpn)
    bios = [ssl.MemoryBIO() for _ in range(4)]   # c->s in, c out, s in, s out
    client = cctx.wrap_bio(bios[0], bios[1], server_hostname=sni)
    server = sctx.wrap_bio(bios[2], bios[3], server_side=True)
    conv: Conversation = []

    def pump() -> None:
        for _ in range(10):
            moved = False
            c = bios[1].read()
            if c:
                conv.append(("out", c))
                bios[2].write(c)
                moved = True
            s = bios[3].read()
            if s:
                conv.append(("in", s))
                bios[0].write(s)
                moved = True
            if not moved:
                return

    def step(fn) -> None:
        try:
            fn()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass

    for _ in range(6):
        step(client.do_handshake)
        step(server.do_handshake)
        pump()
    client.write(upload)
    pump()
    received = bytearray()
    while len(received) < len(upload):
        received += server.read(65536)
    server.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    pump()
    step(client.read)
    pump()
    assert bytes(received) == upload
    return conv


def make_ctx() -> FlowContext:
    info = FlowInfo(flow="tcp 10.0.0.2:50000 > 10.0.0.1:443", channel="net", transport="tcp",
                    src="10.0.0.2", sport=50000, dst="10.0.0.1", dport=443, destination="10.0.0.1")
    return FlowContext(flow=info.flow, info=info, shared={})


def run(conv: Conversation, chunk: int | None = None) -> tuple[list[Payload | Observation], FlowContext]:
    ctx = make_ctx()
    parser = TlsParser(ctx)
    out: list[Payload | Observation] = []
    for i, (direction, data) in enumerate(conv):
        step = chunk or len(data)
        for o in range(0, len(data), step):
            out += parser.feed(direction, data[o:o + step], float(i))
    return out + parser.close(float(len(conv))), ctx


def clear_handshake(stream: bytes) -> bytes:
    """The handshake records' bodies a side sent before its first change-cipher-spec or sealed record:
    the messages a reader without keys sees (the parser hands them on whole)."""
    out, pos = bytearray(), 0
    while pos + 5 <= len(stream) and stream[pos] == 22:
        length = int.from_bytes(stream[pos + 3: pos + 5], "big")
        out += stream[pos + 5: pos + 5 + length]
        pos += 5 + length
    return bytes(out)


def handed_on(items: list, conv: Conversation) -> list[tuple[tuple[str, ...], str, bytes]]:
    """(chain tail, direction, data) of the payloads besides the SNI."""
    return [(p.chain[-2:], p.direction, p.data) for p in items if isinstance(p, Payload) and p.chain[-1] != "tls sni"]


def expected_handshakes(conv: Conversation, explicit: bool = False) -> list[tuple[tuple[str, ...], str, bytes]]:
    """What ``handed_on`` should be: each side's cleartext handshake messages, the client's first;
    with ``explicit`` (before TLS 1.3), then the first 8 and 16 bytes of each of the client's sealed
    records, in a lane each."""
    lanes = [(("tls", "handshake"), d, clear_handshake(b"".join(data for dd, data in conv if dd == d)))
             for d in ("out", "in")]
    if explicit:
        sealed = sealed_bodies(b"".join(data for d, data in conv if d == "out"))
        lanes += [(("tls", "explicit nonces"), "out", b"".join(body[:8] for body in sealed)),
                  (("tls", "explicit IVs"), "out", b"".join(body[:16] for body in sealed))]
    return lanes


def sealed_bodies(stream: bytes) -> list[bytes]:
    """The bodies of the records after a stream's change-cipher-spec, to where records end."""
    bodies, at, sealed = [], 0, False
    while at + 5 <= len(stream) and stream[at] in range(20, 25) and stream[at + 1] == 3:
        size = int.from_bytes(stream[at + 3: at + 5], "big")
        if sealed:
            bodies.append(stream[at + 5: at + 5 + size])
        sealed = sealed or stream[at] == 20
        at += 5 + size
    return bodies


UPLOAD = b"POST /v1/runs HTTP/1.1\r\nHost: upload.vendor.test\r\n\r\n" + b"ACGT" * 20000


def test_tls12_sni_alpn_certificate_and_volume(tmp_path: Path) -> None:
    conv = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, UPLOAD, alpn=["http/1.1"])
    assert looks_like_tls(conv[0][1])
    items, ctx = run(conv)
    meta = ctx.info.meta
    assert meta["sni"] == "upload.vendor.test" and meta["tls_version"] == "TLS 1.2"
    assert meta["alpn"] == ["http/1.1"]
    assert meta["cert_names"] == ["upload.vendor.test", "alt.vendor.test"]
    assert ctx.info.encrypted and ctx.destination == "upload.vendor.test"
    (sni,) = [p for p in items if isinstance(p, Payload) and p.chain[-1] == "tls sni"]
    assert sni.chain == ("tcp", "tls sni") and sni.data == b"upload.vendor.test"
    # each side's handshake messages sent in the clear, whole and once; no ciphertext but the first
    # bytes of each sealed record the client sent (its explicit nonces), in lanes of their own
    assert handed_on(items, conv) == expected_handshakes(conv, explicit=True)
    (obs,) = [o for o in items if isinstance(o, Observation)]
    assert obs.kind == "encrypted" and obs.severity == "info" and obs.chain == ("tcp", "tls")
    # ciphertext volume: the upload plus per-record overhead (<= 2 % here), never less
    assert len(UPLOAD) <= obs.bytes_out <= len(UPLOAD) * 1.02
    assert obs.detail["bytes_in"] > 0 and obs.detail["sni"] == "upload.vendor.test"
    assert not ctx.info.errors


def test_tls13_hides_certificate_but_counts_bytes(tmp_path: Path) -> None:
    conv = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_3, UPLOAD)
    items, ctx = run(conv)
    assert ctx.info.meta["tls_version"] == "TLS 1.3" and "cert_names" not in ctx.info.meta
    (obs,) = [o for o in items if isinstance(o, Observation)]
    assert len(UPLOAD) <= obs.bytes_out <= len(UPLOAD) * 1.03
    # every chunking gives the same answer (records straddle feeds)
    for chunk in (1, 7, 1000):
        items2, ctx2 = run(conv, chunk)
        assert [o.bytes_out for o in items2 if isinstance(o, Observation)] == [obs.bytes_out]
        assert ctx2.info.meta == ctx.info.meta


def test_client_hello_fields() -> None:
    conv_hello = bytes.fromhex(  # from illustrated-tls13: ClientHello body fields parsed by hand
        "0303" + "00" * 32 + "00" + "0002" + "1301" + "0100"
        + "001b" + "0000000e000c0000096c6f63616c686f7374" + "0010000500030268 32".replace(" ", ""))
    info = parse_client_hello(conv_hello)
    assert info["sni"] == "localhost" and info["alpn_offered"] == ["h2"]


def test_garbage_after_handshake_is_opaque_not_an_exception(tmp_path: Path) -> None:
    conv = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x" * 100)
    conv.append(("out", b"\x00" * 50 + b"garbage"))
    items, ctx = run(conv)
    assert ctx.info.errors and ctx.info.errors[0].startswith("tls:")
    (obs,) = [o for o in items if isinstance(o, Observation)]
    assert obs.bytes_out >= 57
    # counted as opaque, and scanned as it is: bytes that are no TLS record may be plaintext
    got = handed_on(items, conv)
    lost = [x for x in got if x[0] == ("tcp", "tls framing lost")]
    assert lost == [(("tcp", "tls framing lost"), "out", b"\x00" * 50 + b"garbage")]
    assert [x for x in got if x not in lost] == expected_handshakes(conv, explicit=True)


@pytest.mark.parametrize("version,names", [("12", ["example.ulfheim.net"]), ("13", None)])
def test_illustrated_captures(shared_data: Path, version: str, names: list[str] | None) -> None:
    d = Dissector()
    items: list = []
    conv: Conversation = []
    for seg in open_capture(shared_data / f"captures/tls/illustrated-tls{version}_capture.pcap"):
        items += d.feed(seg)
        if seg.data:
            conv.append(("out" if seg.sport > seg.dport else "in", seg.data))
    items += d.close()
    (info,) = d.flows.values()
    assert info.app == "tls" and info.encrypted and info.destination == "example.ulfheim.net"
    assert info.meta["tls_version"] == f"TLS 1.{version[1]}" and info.meta.get("cert_names") == names
    (obs,) = [o for o in items if isinstance(o, Observation)]
    assert obs.bytes_out > 0 and not info.errors
    # no ciphertext is ever handed on as content: the SNI, and each side's cleartext handshake
    assert [p.chain for p in items if isinstance(p, Payload)][0] == ("tcp", "tls sni")
    assert handed_on(items, conv) == expected_handshakes(conv, explicit=version == "12")


def test_records_picked_up_mid_connection_are_recognised_on_any_port() -> None:
    app = b"\x17\x03\x03\x00\x20" + bytes(range(32))
    alert = b"\x15\x03\x03\x00\x1a" + bytes(26)
    assert looks_like_tls_records(app) and looks_like_tls_records(app + alert)          # exact fill, a chain
    assert looks_like_tls_records(app + b"\x17\x03\x03\x40\x00" + bytes(100))           # chain, last one cut
    assert not looks_like_tls_records(b"\x17\x03\x03\x40\x00" + bytes(100))             # one record, cut: unproven
    assert not looks_like_tls_records(app + b"GET / HTTP/1.1\r\n")                      # not records after it
    assert not looks_like_tls_records(b"\x17\x03\x03\x00\x00")                          # empty record
    assert not looks_like_tls_records(b"\x30\x03\x03\x00\x01x")                         # not a content type
    assert TlsParser.detect(app + alert, b"", 40000, 9443)


def _records(data: bytes, size: int = 16384) -> bytes:
    return b"".join(b"\x17\x03\x03" + len(data[i:i + size]).to_bytes(2, "big") + data[i:i + size]
                    for i in range(0, len(data), size))


def _plain_sent(items: list[Payload | Observation]) -> bytes:
    return b"".join(p.data for p in items if isinstance(p, Payload) and p.chain[-1] == "unencrypted records")


def test_plaintext_framed_as_tls_records_goes_to_the_correlator(tmp_path: Path) -> None:
    """"Fake TLS": a real ClientHello, then application-data records that were never encrypted."""
    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    reads = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, b"ACGTTGCA" * 19, b"F" * 152) for i in range(400))
    conv = [hello, ("out", _records(reads, 5000))]
    for chunk in (None, 1, 7, 1000):
        items, ctx = run(conv, chunk)
        assert _plain_sent(items) == reads
        assert ctx.info.meta["tls_unencrypted"] and "unencrypted" in ctx.info.errors[0]
        (obs,) = [o for o in items if isinstance(o, Observation)]
        assert obs.bytes_out == 0          # content, not opaque volume


def test_compressed_plaintext_in_records_is_caught_by_its_magic(tmp_path: Path) -> None:
    import gzip
    import os

    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    packed = gzip.compress(os.urandom(30000))        # as varied as ciphertext, but it says what it is
    items, _ = run([hello, ("out", _records(packed))])
    assert _plain_sent(items) == packed


def test_ciphertext_is_never_taken_for_plaintext(tmp_path: Path) -> None:
    import os

    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    for _ in range(300):                 # 1,200 random records, GCM-style counter nonces first
        body = b"".join(n.to_bytes(8, "big") + os.urandom(1000) for n in range(4))
        items, ctx = run([hello, ("out", _records(body, 1008))])
        assert not _plain_sent(items) and "tls_unencrypted" not in ctx.info.meta


READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, b"ACGTTGCA" * 19, b"F" * 152) for i in range(400))


def _random_records(n: int, size: int = 16384) -> bytes:
    import os

    return _records(os.urandom(n * size), size)


def test_plaintext_after_a_few_real_looking_records_is_still_caught(tmp_path: Path) -> None:
    """Only the first records used to be looked at: four of random bytes, then reads in clear."""
    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    items, ctx = run([hello, ("out", _random_records(6) + _records(READS, 5000))], 1000)
    assert _plain_sent(items) == READS and ctx.info.meta["tls_unencrypted"]


def test_random_bytes_where_the_probe_used_to_look_do_not_hide_the_plaintext_after_them(tmp_path: Path) -> None:
    import os

    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    parts = [READS[i: i + 8000] for i in range(0, len(READS), 8000)]
    masked = b"".join(b"\x17\x03\x03" + (200 + len(part)).to_bytes(2, "big") + os.urandom(200) + part
                      for part in parts)
    items, ctx = run([hello, ("out", _random_records(5) + masked)])
    assert ctx.info.meta["tls_unencrypted"]
    sent = _plain_sent(items)
    assert all(part in sent for part in parts[2:])   # caught at the latest a record or two in


@pytest.mark.parametrize("size", [100, 20, 3], ids=["short", "shorter-than-any-real-record", "tiny"])
def test_plaintext_in_records_too_short_to_probe_alone_is_caught_together(tmp_path: Path, size: int) -> None:
    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    text = READS[:6000]
    parser = TlsParser(make_ctx())
    items = parser.feed("out", hello[1], 0.0) + parser.feed("out", _random_records(5) + _records(text, size), 1.0)
    items += parser.close(2.0)
    assert len(parser.sides["out"].shorts) <= 128
    assert _plain_sent(items) == text               # the short records judged together are sent too


def test_long_and_short_ciphertext_is_never_taken_for_plaintext(tmp_path: Path) -> None:
    """Every record is looked at now: a long upload of ciphertext, and short TLS 1.3 records."""
    import os

    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_3, b"x")[0]
    short = b"".join(b"\x17\x03\x03\x00\x11" + os.urandom(17) for _ in range(20_000))
    items, ctx = run([hello, ("out", _random_records(4000, 2048) + short)], 65536)
    assert not _plain_sent(items) and "tls_unencrypted" not in ctx.info.meta


def test_unencrypted_plaintext_held_back_goes_out_when_the_flow_is_idle(tmp_path: Path) -> None:
    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    ctx = make_ctx()
    parser = TlsParser(ctx)
    parser.feed("out", hello[1], 0.0)
    text = b'{"sample": "PT9936-T1", "seq": "' + b"ACGT" * 100 + b'"}\n'
    assert not _plain_sent(parser.feed("out", _records(text), 1.0))
    assert _plain_sent(parser.idle(2.0)) == text
    assert not _plain_sent(parser.close(3.0))


def test_a_fake_tls_upload_of_reads_is_a_leak_on_replay(tmp_path: Path) -> None:
    import gzip

    from sandbox.captures.writer import PcapWriter, TcpConversation
    from sandbox.replay import replay
    from sandbox.simulate import ensure_demo

    repo = Path(__file__).resolve().parents[2]
    run_dir, _ = ensure_demo(repo / "captures" / "demo")
    fastq = next((run_dir / "Data/Intensities/BaseCalls").glob("PT9936-T1_*.fastq.gz"))
    reads = gzip.decompress(fastq.read_bytes())[:60000]
    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0][1]
    path = tmp_path / "fake-tls.pcap"
    with PcapWriter(path) as w:
        conv = TcpConversation(w, ("10.20.0.5", 40200), ("203.0.113.9", 443), t0=5.0)
        conv.send(hello + _records(reads))
        conv.close()
    report = replay([path], [run_dir], cache_dir=tmp_path / "cache", jobs=1).report
    leaks = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leaks and leaks[0]["samples"] == ["PT9936-T1"]
    assert leaks[0]["chain"][-2:] == ["tls", "unencrypted records"]


def test_records_of_a_flow_being_decrypted_are_skipped_not_judged(tmp_path: Path) -> None:
    """The live rig decrypts its own TLS: its plaintext is examined, so the ciphertext is only counted
    (judging every record whole would copy every byte the instrument sends once more)."""
    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    ctx = make_ctx()
    ctx.info.decrypted = True
    parser = TlsParser(ctx)
    parser.feed("out", hello[1], 0.0)
    parser.feed("out", _random_records(8), 1.0)
    assert parser.sides["out"].probed == 0 and parser.sides["out"].app_bytes == 8 * 16384


def test_explicit_bytes_split_across_segments_are_kept_whole() -> None:
    """A flow being decrypted is not held record by record: a record's first bytes that come in later
    segments (skipped as ciphertext) still reach the lanes whole."""
    ctx = make_ctx()
    ctx.info.decrypted = True
    parser = TlsParser(ctx)
    body = bytes(range(100, 140))
    stream = b"\x14\x03\x03\x00\x01\x01" + b"\x17\x03\x03\x00\x28" + body
    items = []
    for at, end in ((0, 14), (14, 20), (20, 22), (22, len(stream))):   # the header, then 3, 6, 2 and the rest
        items += parser.feed("out", stream[at:end], 1.0)
    items += parser.close(2.0)
    lanes = {p.chain[-1]: p.data for p in items if isinstance(p, Payload) and p.chain[-2] == "tls"}
    assert lanes == {"explicit nonces": body[:8], "explicit IVs": body[:16]}


def test_hello_values_of_the_illustrated_handshake(shared_data: Path) -> None:
    """The values each hello draws at random, from the capture the Illustrated TLS 1.3 walks through."""
    first = {}
    for seg in open_capture(shared_data / "captures/tls/illustrated-tls13_capture.pcap"):
        if seg.data:
            first.setdefault("client" if seg.sport > seg.dport else "server", seg.data)
    client = hello_values(first["client"][9:], client=True)
    server = hello_values(first["server"][9:], client=False)
    assert client == [("tls hello random", bytes(range(32))), ("tls hello session id", bytes(range(0xE0, 0x100))),
                      ("tls hello key share", bytes.fromhex("358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254"))]
    assert server == [("tls hello random", bytes(range(0x70, 0x90))), ("tls hello session id", bytes(range(0xE0, 0x100))),
                      ("tls hello key share", bytes.fromhex("9fd7ad6dcff4298dd3f96d5b1b2af910a0535b1488d7f8fabb349a982880b615"))]


def test_hello_values_are_read_across_the_connections_to_a_site() -> None:
    """A session id a connection, each its own flow: the ids joined, in order."""
    ids = [bytes([n]) * 32 for n in range(1, 5)]
    body = b"".join(ids)
    d = Dissector()
    items: list = []
    for n, sid in enumerate(ids):
        hello = (b"\x03\x03" + bytes(32) + bytes([32]) + sid + b"\x00\x02\x13\x01\x01\x00\x00\x00")
        record = b"\x16\x03\x01" + (len(hello) + 4).to_bytes(2, "big") + b"\x01" + len(hello).to_bytes(3, "big") + hello
        t = 1 + n * 0.01
        items += d.feed(Segment(t, "net", "tcp", "10.0.0.2", 40000 + n, "192.0.2.9", 443, b"", 0, 0, 0x02))
        items += d.feed(Segment(t, "net", "tcp", "10.0.0.2", 40000 + n, "192.0.2.9", 443, record, 1, 0, 0x18))
    items += d.close()
    joined = [p for p in items if isinstance(p, Payload) and p.chain[-2:] == ("tls hello session id", "messages joined")]
    assert b"".join(p.data[p.repeated:] for p in joined) == body
