"""HTTP/1.x parser: framing, codings, uploads, upgrades, hostile input, real traffic."""

from __future__ import annotations

import gzip
import itertools
import random
import re
import time
import zlib
from pathlib import Path

import brotli
import pytest
import zstandard

from sandbox.decode import limits
from sandbox.model import Observation, Payload
from sandbox.protocols import http1, sinks
from sandbox.protocols.http1 import Http1Parser
from sandbox.protocols.raw import RAW_OVERLAP
from tests.protocols.test_stream_parsers_conformance import (
    dissect_pcap,
    make_ctx,
    parse_pcap,
    payloads,
    run,
    tcp_streams,
    ws_mask,
)

FASTQ = b"".join(b"@read%d\nACGTTGCAAGGCTTAACCGT%d\n+\nIIIIIIIIIIIIIIIIIIII\n" % (i, i % 10) for i in range(2000))


def bodies(items: list, direction: str = "out") -> list[Payload]:
    """Each message's body (not the URL view, not short bodies read joined)."""
    return [p for p in items if isinstance(p, Payload) and p.direction == direction
            and p.chain[-1] not in ("url", "messages joined")]


def req(method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: lab.example\r\n{headers}"
    if body and "Transfer-Encoding" not in headers:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def chunked(body: bytes, size: int = 1000, ext: bytes = b"", trailers: bytes = b"") -> bytes:
    parts = [b"%x%s\r\n%s\r\n" % (len(body[i : i + size]), ext, body[i : i + size])
             for i in range(0, len(body), size)]
    return b"".join(parts) + b"0" + ext + b"\r\n" + trailers + b"\r\n"


# --------------------------------------------------------------------------- framing


def test_request_head_is_a_payload_with_url_and_meta() -> None:
    ctx = make_ctx()
    items = run(Http1Parser, [("out", req("GET", "/api/runs?id=RUN42&sample=S1", headers="User-Agent: seqr/1\r\n"))],
                ctx)
    (head,) = items
    assert head.chain == ("tcp", "http/1.1 GET /api/runs", "url")
    assert b"id=RUN42&sample=S1" in head.data and b"User-Agent: seqr/1" in head.data
    assert head.meta["host"] == "lab.example" and head.meta["method"] == "GET"
    assert head.meta["path"] == "/api/runs?id=RUN42&sample=S1" and head.stream_offset == 0
    assert ctx.info.app == "http/1.1" and ctx.destination == "lab.example"
    assert ctx.info.meta == {"host": "lab.example", "user-agent": "seqr/1", "names": ["lab.example"]}


@pytest.mark.parametrize("length", [b"\xb24", b"\xd9\xa34", b"1_0"])     # "²4", Arabic-Indic "٣4", "1_0"
def test_a_content_length_of_other_digits_is_refused_not_a_crash(length: bytes) -> None:
    """str.isdigit() takes "²" and int() then refused it: a parser exception (found by the mutation
    test).  Only ASCII digits frame a body; the bytes are still read."""
    data = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n" + FASTQ[:4000]
    items = run(Http1Parser, [("out", data)])
    assert FASTQ[:4000] in b"".join(p.data for p in items if isinstance(p, Payload))


def test_pipelined_keepalive_bodies_map_to_their_requests() -> None:
    out = req("POST", "/a", b"first") + req("HEAD", "/h") + req("GET", "/b") + req("PUT", "/c", b"third")
    inb = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
           b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone")
    items = run(Http1Parser, [("out", out), ("in", inb)])
    assert [(p.chain[1], p.data) for p in bodies(items)] == [("http/1.1 POST /a", b"first"),
                                                              ("http/1.1 PUT /c", b"third")]
    responses = bodies(items, "in")
    assert [(p.chain[1], p.data, p.meta["status"]) for p in responses] == [
        ("http/1.1 POST /a", b"ok", 200), ("http/1.1 PUT /c", b"done", 201)]
    assert len(payloads(items, "url")) == 4
    assert bodies(items)[0].stream_offset == out.index(b"first")


def test_chunked_with_extensions_and_trailers() -> None:
    wire = req("POST", "/up", chunked(FASTQ, 777, b";name=x", b"X-Checksum: abc\r\n"),
               "Transfer-Encoding: chunked\r\n")
    side, body = bodies(run(Http1Parser, [("out", wire + req("GET", "/next"))]))
    assert body.data == FASTQ and body.meta["trailers"] == "X-Checksum: abc\n"
    # extensions and trailers are scanned too: a server ignores what it does not know, the instrument's reads them
    assert side.chain[-1] == "chunk extensions and trailers"
    assert side.data == b"name=x\n" * (-(-len(FASTQ) // 777) + 1) + b"X-Checksum: abc\n"


def test_response_until_close_and_204_and_100_continue() -> None:
    out = req("POST", "/x", b"data", "Expect: 100-continue\r\n") + req("DELETE", "/y") + req("GET", "/z")
    inb = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
           b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.0 200 OK\r\n\r\nall the rest")
    items = run(Http1Parser, [("out", out), ("in", inb)])
    assert [(p.chain[1], p.data) for p in bodies(items, "in")] == [("http/1.1 POST /x", b"1"),
                                                                    ("http/1.1 GET /z", b"all the rest")]


def test_truncated_body_is_emitted_and_marked() -> None:
    items = run(Http1Parser, [("out", req("POST", "/x", b"0123456789")[:-4])])
    (body,) = bodies(items)
    assert body.data == b"012345" and body.meta["truncated"] is True


def test_instrument_as_server_roles_from_content() -> None:
    """Requests arrive inbound, answers go out: the roles follow the bytes, not the direction."""
    items = run(Http1Parser, [("in", req("GET", "/status")),
                              ("out", b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nRUN-42")])
    (body,) = bodies(items, "out")
    assert body.data == b"RUN-42" and body.chain[1] == "http/1.1 GET /status"


# --------------------------------------------------------------------------- codings


@pytest.mark.parametrize("name, encode", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
    ("br", brotli.compress),
    ("zstd", zstandard.ZstdCompressor().compress),
])
def test_content_encoding_removed(name: str, encode) -> None:
    wire = req("POST", "/up", encode(FASTQ), f"Content-Encoding: {name}\r\n")
    for step in (len(wire), 7):
        conv = [("out", wire[i : i + step]) for i in range(0, len(wire), step)]
        (body,) = bodies(run(Http1Parser, conv))
        assert body.data == FASTQ
        assert body.chain == ("tcp", "http/1.1 POST /up", f"content-encoding:{name}")


def test_gzip_multi_member_and_chunked_response() -> None:
    data = gzip.compress(FASTQ[:5000]) + gzip.compress(FASTQ[5000:])
    inb = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(data, 333)
    (body,) = bodies(run(Http1Parser, [("out", req("GET", "/f")), ("in", inb)]), "in")
    assert body.data == FASTQ


@pytest.mark.parametrize("name", ["zstd", "br"])
def test_decompression_bomb_stops_at_the_ratio_limit(name: str) -> None:
    """100 MiB of zeros in a few KB: decoding stops at the ratio limit, the rest stays raw."""
    if name == "zstd":
        comp = zstandard.ZstdCompressor().compressobj()
        bomb = b"".join(comp.compress(bytes(1 << 20)) for _ in range(100)) + comp.flush()
    else:
        comp = brotli.Compressor(quality=1)
        bomb = b"".join(comp.process(bytes(1 << 20)) for _ in range(100)) + comp.finish()
    assert len(bomb) < 200_000
    ctx = make_ctx()
    (body,) = bodies(run(Http1Parser, [("out", req("POST", "/b", bomb, f"Content-Encoding: {name}\r\n"))], ctx))
    assert len(body.data) <= limits.DEFAULT_LIMITS.ratio_allowance(len(bomb)) + 33 * 1024 * 1024
    assert f"content-encoding:{name}" not in body.chain
    assert any("expansion ratio" in e for e in body.meta["decode_errors"])
    assert any("expansion ratio" in e for e in ctx.info.errors)


def test_a_limit_on_an_outbound_body_is_a_decode_limit_observation_an_inbound_one_not() -> None:
    comp = zstandard.ZstdCompressor().compressobj()
    bomb = b"".join(comp.compress(bytes(1 << 20)) for _ in range(100)) + comp.flush()
    response = (b"HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nContent-Length: %d\r\n\r\n" % len(bomb)) + bomb
    items = run(Http1Parser, [("out", req("POST", "/b", bomb, "Content-Encoding: zstd\r\n")), ("in", response)])
    (obs,) = [x for x in items if isinstance(x, Observation)]
    assert (obs.kind, obs.severity, obs.chain) == ("decode-limit", "medium", ("tcp", "http/1.1 POST /b"))
    assert obs.detail["limit"] == "expansion ratio 100x" and obs.detail["decoder"] == "content-encoding:zstd"
    assert 0 < obs.detail["bytes_not_examined"] == obs.bytes_out <= len(bomb)  # zstd hands back its held block
    assert obs.detail["where"] == "expansion ratio 100x reached in content-encoding:zstd at http/1.1 POST /b"


def test_bad_gzip_passes_through_raw() -> None:
    (body,) = bodies(run(Http1Parser, [("out", req("POST", "/b", b"not gzip at all", "Content-Encoding: gzip\r\n"))]))
    assert body.data == b"not gzip at all" and body.chain == ("tcp", "http/1.1 POST /b")


def test_aws_chunked_signed_with_trailers() -> None:
    sig = b";chunk-signature=" + b"ab" * 32
    enc = chunked(FASTQ, 8192, sig, b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:" + b"cd" * 32 + b"\r\n")
    headers = ("Content-Encoding: aws-chunked\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER\r\n"
               f"x-amz-decoded-content-length: {len(FASTQ)}\r\n")
    (body,) = bodies(run(Http1Parser, [("out", req("PUT", "/bucket/run/reads.fastq", enc, headers))]))
    assert body.data == FASTQ
    assert body.chain == ("tcp", "http/1.1 PUT /bucket/run/reads.fastq", "content-encoding:aws-chunked")


def test_aws_chunked_outside_gzip_object() -> None:
    enc = chunked(gzip.compress(FASTQ), 4096, b";chunk-signature=00")
    (body,) = bodies(run(Http1Parser, [("out", req("PUT", "/b/k", enc, "Content-Encoding: aws-chunked,gzip\r\n"))]))
    assert body.data == FASTQ
    assert body.chain[2:] == ("content-encoding:aws-chunked", "content-encoding:gzip")


# --------------------------------------------------------------------------- multipart


def test_multipart_parts_are_separate_payloads() -> None:
    b = b"----b0undary"
    body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="run"\r\n\r\nRUN42\r\n--' + b
            + b'\r\nContent-Disposition: form-data; name="file"; filename="reads.fastq.gz"\r\n'
              b"Content-Type: application/gzip\r\n\r\n" + gzip.compress(FASTQ) + b"\r\n--" + b + b"--\r\n")
    wire = req("POST", "/upload", body, "Content-Type: multipart/form-data; boundary=" + b.decode() + "\r\n")
    for step in (len(wire), 5, 1):
        conv = [("out", wire[i : i + step]) for i in range(0, len(wire), step)]
        field, file = bodies(run(Http1Parser, conv))
        assert field.data == b"RUN42" and field.chain == ("tcp", "http/1.1 POST /upload", "multipart:name=run")
        assert file.chain == ("tcp", "http/1.1 POST /upload", "multipart:file=reads.fastq.gz")
        assert file.meta["filename"] == "reads.fastq.gz" and gzip.decompress(file.data) == FASTQ
        assert file.stream_offset == wire.index(b"\x1f\x8b")


# --------------------------------------------------------------------------- upgrades


def test_websocket_upgrade_hands_over() -> None:
    up = req("GET", "/ws", headers="Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n")
    resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    frame = b"\x82\x84abcd" + ws_mask(b"\x00\x01\x02\x03", b"abcd")
    items = run(Http1Parser, [("out", up), ("in", resp + b"\x81\x02hi"), ("out", frame)])
    ws = payloads(items, "websocket")
    assert [(p.chain, p.direction, p.data) for p in ws] == [
        (("tcp", "http/1.1 GET /ws", "websocket"), "in", b"hi"),
        (("tcp", "http/1.1 GET /ws", "websocket"), "out", b"\x00\x01\x02\x03")]
    assert ws[1].stream_offset == len(up) + 6


def test_refused_upgrade_stays_http() -> None:
    up = req("GET", "/ws", headers="Upgrade: websocket\r\nConnection: Upgrade\r\n")
    items = run(Http1Parser, [("out", up), ("in", b"HTTP/1.1 400 Bad\r\nContent-Length: 2\r\n\r\nno"),
                              ("out", req("POST", "/p", b"body"))])
    assert [p.data for p in bodies(items)] == [b"body"]


def test_h2c_upgrade_hands_over_to_http2() -> None:
    import h2.config
    import h2.connection

    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    settings = client.initiate_upgrade_connection()
    up = req("GET", "/grpc", headers=f"Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: "
                                     f"{settings.decode()}\r\n")
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_upgrade_connection(settings)
    server.send_headers(1, [(":status", "200")])
    server.send_data(1, b"upgraded answer", end_stream=True)
    resp = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" + server.data_to_send()
    client.send_headers(3, [(":method", "POST"), (":path", "/second"), (":scheme", "http"), (":authority", "x")])
    client.send_data(3, b"second body", end_stream=True)
    items = run(Http1Parser, [("out", up), ("in", resp), ("out", client.data_to_send())])
    assert [(p.chain, p.data) for p in bodies(items, "in")] == [(("tcp", "http/2 GET /grpc"), b"upgraded answer")]
    assert [(p.chain, p.data) for p in bodies(items, "out")] == [(("tcp", "http/2 POST /second"), b"second body")]


def test_connect_tunnel_is_passed_on() -> None:
    items = run(Http1Parser, [("out", b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n"),
                              ("in", b"HTTP/1.1 200 Connection established\r\n\r\n"),
                              ("out", b"\x16\x03\x01secret"), ("in", b"reply")])
    tunnel = payloads(items, "tunnel")
    assert [(p.direction, p.data) for p in tunnel] == [("out", b"\x16\x03\x01secret"), ("in", b"reply")]


CONNECT_HEAD = [("out", b"CONNECT upload.vendor.test:443 HTTP/1.1\r\nHost: upload.vendor.test:443\r\n\r\n"),
                ("in", b"HTTP/1.1 200 Connection established\r\n\r\n")]


def _connect_run(tunnelled: list[tuple[str, bytes]], step: int | None = None):
    ctx = make_ctx()
    conv = CONNECT_HEAD + [(d, data[o:o + (step or len(data))]) for d, data in tunnelled
                           for o in range(0, len(data), step or len(data))]
    return run(Http1Parser, conv, ctx), ctx


@pytest.mark.parametrize("step", [None, 1, 3])
def test_tls_in_a_connect_tunnel_is_read_as_tls(tmp_path: Path, step: int | None) -> None:
    """A proxied HTTPS connection: metadata and volume, not ciphertext for the correlator."""
    import ssl

    from tests.protocols.test_tls import tls_conversation

    conv = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_3, FASTQ)
    items, ctx = _connect_run(conv, step)
    assert not payloads(items, "tunnel")
    (obs,) = [o for o in items if isinstance(o, Observation) and o.kind == "encrypted"]
    assert obs.chain == ("tcp", "http/1.1 CONNECT upload.vendor.test:443", "tls")
    assert obs.bytes_out >= len(FASTQ) and ctx.info.encrypted and ctx.info.meta["sni"] == "upload.vendor.test"


def test_plaintext_framed_as_tls_in_a_tunnel_still_reaches_the_correlator(tmp_path: Path) -> None:
    import ssl

    from tests.protocols.test_tls import _plain_sent, _records, tls_conversation

    hello = tls_conversation(tmp_path, ssl.TLSVersion.TLSv1_2, b"x")[0]
    items, _ = _connect_run([hello, ("out", _records(FASTQ, 5000))])
    assert _plain_sent(items) == FASTQ


@pytest.mark.parametrize("tunnelled", [
    [("in", b"SSH-2.0-server\r\n"), ("out", b"\x16\x03\x01\x00\x05hello")],   # the server speaks first
    [("out", b"\x16\x03"), ("out", b"\x09\x00\x10" + FASTQ[:100])],            # no TLS record header
    [("out", FASTQ[:300])],
])
def test_other_tunnels_stay_raw(tunnelled: list[tuple[str, bytes]]) -> None:
    items, ctx = _connect_run(tunnelled)
    sent = b"".join(p.data for p in payloads(items, "tunnel") if p.direction == "out")
    assert sent == b"".join(d for direction, d in tunnelled if direction == "out") and not ctx.info.encrypted


def test_a_quiet_tunnel_hands_over_what_it_holds() -> None:
    ctx = make_ctx()
    parser = Http1Parser(ctx)
    for direction, data in CONNECT_HEAD + [("out", FASTQ[:3000])]:
        parser.feed(direction, data, 1.0)
    assert [p.data for p in parser.idle(2.0) if isinstance(p, Payload)] == [FASTQ[:3000]]


# --------------------------------------------------------------------------- hostile input


def test_garbage_goes_raw_and_resyncs() -> None:
    ctx = make_ctx()
    items = run(Http1Parser, [("out", req("GET", "/a") + b"\x00\x01junk junk\r\n\r\n" + req("POST", "/x", b"payload"))],
                ctx)
    raw = payloads(items, "http/1.1 unparsed")
    assert raw[0].data == b"\x00\x01junk junk\r\n\r\n"
    assert [p.data for p in bodies(items) if p not in raw] == [b"payload"]
    assert ctx.info.errors == ["http/1.1 out: bad request line b'\\x00\\x01junk junk'"]


@pytest.mark.parametrize("lead", [b"\x00", b"\x00\x01junk junk\r\n\r\n", b"tail of a body\r\nmore\n\n" * 50])
@pytest.mark.parametrize("step", [1, 7, 100_000])
def test_leading_junk_before_the_first_start_line_is_no_error(lead: bytes, step: int) -> None:
    """A pickup (keep-alive byte, mid-message capture start) is skipped quietly, either side."""
    ctx = make_ctx()
    conv = [("out", lead + req("POST", "/x", b"payload")),
            ("in", lead + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
    items = run(Http1Parser, [(d, data[i : i + step]) for d, data in conv for i in range(0, len(data), step)], ctx)
    assert not ctx.info.errors
    assert [(p.direction, p.data) for p in payloads(items, "http/1.1 unparsed")] == [("out", lead), ("in", lead)]
    assert [(p.direction, p.data) for p in bodies(items, "out") + bodies(items, "in")
            if p.chain[1] != "http/1.1 unparsed"] == [("out", b"payload"), ("in", b"ok")]
    (head,) = payloads(items, "http/1.1 POST /x", "url")
    assert head.stream_offset == len(lead)


def test_leading_junk_is_bounded() -> None:
    ctx = make_ctx()
    junk = b"no http here\n" * (http1.MAX_LEAD // 13 + 2)
    items = run(Http1Parser, [("out", junk[i : i + 65536]) for i in range(0, len(junk), 65536)], ctx)
    assert ctx.info.errors == [f"http/1.1 out: no start line in the first {http1.MAX_LEAD} bytes"]
    stream = bytearray()
    for p in items:   # pieces overlap by RAW_OVERLAP: place each at its offset
        stream[p.stream_offset :] = p.data
    assert stream == junk and {p.chain for p in items} == {("tcp", "http/1.1 unparsed")}


def test_detect_accepts_a_start_line_after_leading_junk_on_either_side() -> None:
    get = b"\x00GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    assert Http1Parser.detect(get, b"", 50000, 80) and Http1Parser.detect(b"", get, 80, 50000)
    assert Http1Parser.detect(b"", b"\x00HTTP/1.1 200 OK\r\n", 50000, 80)
    assert not Http1Parser.detect(b"\x00\x01binary GETX", b"", 50000, 80)


def test_endless_head_is_bounded_and_kept() -> None:
    junk = b"GET /" + b"A" * (3 * http1.MAX_HEAD)
    items = run(Http1Parser, [("out", junk[i : i + 4096]) for i in range(0, len(junk), 4096)])
    assert b"".join(p.data for p in items) == junk


def test_unparsed_pieces_overlap_so_a_fragment_across_a_cut_is_seen() -> None:
    rng = random.Random(7)
    junk = b"\x00junk\r\n\r\n" + b"".join(rng.randbytes(rng.randrange(50, 400)).replace(b"\n", b"-") + b"\n"
                                         for _ in range(20_000))
    assert len(junk) > 3 * http1.RAW_PIECE
    tail = b"after the hole\n"
    conv = [("out", junk[i : i + 65536]) for i in range(0, len(junk), 65536)] + [("gap-out", b"x" * 100),
                                                                                  ("out", tail)]
    raw = payloads(run(Http1Parser, conv), "http/1.1 unparsed")
    assert len(raw) >= 4 and raw[0].stream_offset == 0
    for piece in raw[:-1]:
        assert junk[piece.stream_offset : piece.stream_offset + len(piece.data)] == piece.data
    for a, b in itertools.pairwise(raw[:-1]):
        assert b.stream_offset == a.stream_offset + len(a.data) - RAW_OVERLAP
    assert raw[-2].stream_offset + len(raw[-2].data) == len(junk)
    cut = raw[1].stream_offset + RAW_OVERLAP  # where the first piece's own bytes ended
    needle = junk[cut - 100 : cut + 100]
    assert any(needle in p.data for p in raw)
    # after a hole the bytes are not contiguous: no overlap
    assert (raw[-1].data, raw[-1].stream_offset) == (tail, len(junk) + 100)


def test_gap_in_body_keeps_going_and_gap_in_head_resyncs() -> None:
    p = Http1Parser(make_ctx())
    out = p.feed("out", req("POST", "/x", b"A" * 100)[:-60], 1.0)
    out += p.gap("out", 10)
    out += p.feed("out", b"B" * 50 + req("POST", "/y", b"tail"), 2.0)
    out += p.close(3.0)
    assert [x.data for x in bodies(out)] == [b"A" * 40, b"B" * 50, b"tail"]
    p = Http1Parser(make_ctx())
    out = p.feed("out", b"POST /z HTTP/1.1\r\nHo", 1.0) + p.gap("out", 100)
    out += p.feed("out", b"lost\r\n\r\n" + req("PUT", "/w", b"after"), 2.0) + p.close(3.0)
    assert bodies(out)[-1].data == b"after"


def test_large_body_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sinks, "MAX_BODY_PIECE", 1000)
    wire = req("POST", "/big", FASTQ)
    pieces = bodies(run(Http1Parser, [("out", wire[i : i + 300]) for i in range(0, len(wire), 300)]))
    assert b"".join(p.data for p in pieces) == FASTQ
    assert all(len(p.data) <= 1000 for p in pieces) and len(pieces) == -(-len(FASTQ) // 1000)
    assert [p.stream_offset for p in pieces] == [wire.index(b"@read0") + 1000 * i for i in range(len(pieces))]


def test_linear_time_on_tiny_chunks() -> None:
    """Cost per byte must not grow with the stream: 4x the bytes within ~4x the time."""

    def cost(n: int) -> float:
        body = b"x" * n
        wire = req("POST", "/t", body) + b"GET /" + b"h" * n
        p = Http1Parser(make_ctx())
        t0 = time.perf_counter()
        for i in range(0, len(wire), 3):
            p.feed("out", wire[i : i + 3], 0.0)
        p.close(0.0)
        return time.perf_counter() - t0

    small, big = min(cost(20_000) for _ in range(3)), min(cost(80_000) for _ in range(3))
    assert big < 8 * small


# --------------------------------------------------------------------------- real captures


def pipeline(pcap: Path) -> list:
    """The capture through helper A's reader and Dissector; tshark's streams if not there."""
    items = dissect_pcap(pcap)
    return parse_pcap(pcap, Http1Parser)[0] if items is None else items


def _multipart_file(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """Oracle: the file parts of a whole multipart body, by plain splitting (RFC 7578)."""
    boundary = re.search(r'boundary="?([^";]+)', content_type).group(1).encode()
    files = []
    for segment in (b"\r\n" + body).split(b"\r\n--" + boundary)[1:]:
        if segment.startswith(b"--"):
            break
        head, _, content = segment[2:].partition(b"\r\n\r\n")
        name = re.search(rb'filename="([^"]*)"', head)
        if name:
            files.append((name.group(1).decode(), content))
    return files


@pytest.mark.parametrize("name", ["suricata-verify_http-multiple100_curl_multipart_upload.pcap",
                                  "suricata-verify_bug-4953_malware_multipart_post_exfil.pcap"])
def test_real_multipart_uploads_match_tshark(shared_data: Path, tmp_path: Path, name: str) -> None:
    import subprocess

    pcap = shared_data / "captures" / "http" / name
    subprocess.run(["tshark", "-r", str(pcap), "-q", "--export-objects", f"http,{tmp_path}"], check=True,
                   capture_output=True)
    items = pipeline(pcap)
    heads = {p.meta["path"].rstrip("/").rsplit("/", 1)[-1]: p for p in payloads(items, "url")}
    files = payloads(items, "multipart:file=")
    assert files
    for exported in tmp_path.iterdir():
        head = heads.get(exported.name)
        if head is None or "multipart" not in head.meta.get("content-type", ""):
            continue
        expected = _multipart_file(exported.read_bytes(), head.meta["content-type"])
        got = [(p.meta["filename"], p.data) for p in files if p.chain[1] == head.chain[1]]
        assert got == expected and expected


def test_real_chunked_image_matches_tshark(shared_data: Path, tmp_path: Path) -> None:
    import subprocess

    pcap = shared_data / "captures" / "http" / "scapy_http_chunk.pcap.gz"
    subprocess.run(["tshark", "-r", str(pcap), "-q", "--export-objects", f"http,{tmp_path}"], check=True,
                   capture_output=True)
    (exported,) = tmp_path.iterdir()
    items = pipeline(pcap)
    (image,) = bodies(items, "in")
    assert image.data == exported.read_bytes() and image.chain[1].startswith("http/1.1 GET /httpgallery/chunked")


def test_real_mattermost_upload(shared_data: Path) -> None:
    items = pipeline(shared_data / "captures" / "http" / "suricata-verify_http-post-file_mattermost_upload.pcap")
    upload = [p for p in bodies(items) if p.chain[1].startswith("http/1.1 POST /api/v4/uploads/")]
    assert [p.data[:20] for p in upload] == [b"X5O!P%@AP[4\\PZX54(P^"]
    login = [p for p in bodies(items) if p.chain[1] == "http/1.1 POST /api/v4/users/login"]
    assert [p.data for p in login] == [b'{"login_id":"toto","password":"tototo"}']
    assert not payloads(items, "http/1.1 unparsed")


# --------------------------------------------------------------------------- live loopback (e2e)


HOST = "127.66.1.1"


def _upload_server(port: int):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if not size:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    data += self.rfile.read(size)
                    self.rfile.readline()
            else:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(data)
            answer = gzip.compress(b"stored %d bytes" % len(data))
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_PUT = do_POST

    server = ThreadingHTTPServer((HOST, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


@pytest.mark.e2e
def test_e2e_requests_uploads(tmp_path: Path) -> None:
    import requests

    from tests.protocols.test_stream_parsers_conformance import check_dissector, record_lo

    port = 18561
    server, received = _upload_server(port)
    url = f"http://{HOST}:{port}"
    try:
        with record_lo(tmp_path / "http.pcapng", HOST, port) as pcap, requests.Session() as s:
            s.post(f"{url}/cl?run=RUN42", data=FASTQ[:30000]).raise_for_status()
            s.post(f"{url}/chunked", data=iter([FASTQ[:10000], FASTQ[10000:25000]])).raise_for_status()
            s.post(f"{url}/gz", data=gzip.compress(FASTQ), headers={"Content-Encoding": "gzip"}).raise_for_status()
            s.post(f"{url}/upload", files={"file": ("reads.fastq.gz", gzip.compress(FASTQ))},
                   data={"sample": "S1"}).raise_for_status()
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 4
    items, ctxs = parse_pcap(pcap, Http1Parser)
    by = {p.chain[1:]: p for p in bodies(items)}
    assert by[("http/1.1 POST /cl",)].data == FASTQ[:30000]
    assert by[("http/1.1 POST /chunked",)].data == FASTQ[:25000]
    assert by[("http/1.1 POST /gz", "content-encoding:gzip")].data == FASTQ
    assert gzip.decompress(by[("http/1.1 POST /upload", "multipart:file=reads.fastq.gz")].data) == FASTQ
    assert by[("http/1.1 POST /upload", "multipart:name=sample")].data == b"S1"
    answers = bodies(items, "in")
    assert [p.data for p in answers] == [b"stored %d bytes" % len(r) for r in received]
    assert all(p.chain[-1] == "content-encoding:gzip" for p in answers)
    assert b"run=RUN42" in payloads(items, "url")[0].data
    assert ctxs[0].info.meta["user-agent"].startswith("python-requests")
    check_dissector(pcap, items)


@pytest.mark.e2e
def test_e2e_boto3_put_object_aws_chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3")
    import botocore.httpchecksum
    from moto.server import ThreadedMotoServer

    from tests.protocols.test_stream_parsers_conformance import check_dissector, record_lo

    # botocore sends its default CRC32 as an aws-chunked trailer only over https; the rig sees
    # the plaintext either way (decrypted TLS), so let it believe the loopback URL is https.
    real_urlparse = botocore.httpchecksum.urlparse
    monkeypatch.setattr(botocore.httpchecksum, "urlparse",
                        lambda url: real_urlparse(url.replace("http://", "https://", 1)))
    port = 18562
    obj = FASTQ * 12  # ~1.3 MB: two 1 MiB aws-chunks
    moto = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    moto.start()
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://{HOST}:{port}", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        with record_lo(tmp_path / "s3.pcapng", HOST, port) as pcap:
            s3.create_bucket(Bucket="runs")
            s3.put_object(Bucket="runs", Key="RUN42/reads.fastq", Body=obj)
            s3.put_object(Bucket="runs", Key="RUN42/small.txt", Body=b"SampleSheet RUN42", ChecksumAlgorithm="SHA256")
            assert s3.get_object(Bucket="runs", Key="RUN42/reads.fastq")["Body"].read() == obj
    finally:
        moto.stop()
    items, _ = parse_pcap(pcap, Http1Parser)
    check_dissector(pcap, items)
    wire = b"".join(d for conv in tcp_streams(pcap).values() for x, d in conv if x == "out")
    assert b"Content-Encoding: aws-chunked" in wire and b"x-amz-checksum-crc32:" in wire
    (put,) = [p for p in bodies(items) if p.chain[1] == "http/1.1 PUT /runs/RUN42/reads.fastq"]
    assert put.data == obj
    assert put.chain[2:] == ("content-encoding:aws-chunked",)
    assert "x-amz-checksum-crc32:" in put.meta["trailers"]
    (small,) = [p for p in bodies(items) if p.chain[1] == "http/1.1 PUT /runs/RUN42/small.txt"]
    assert small.data == b"SampleSheet RUN42"
    (get,) = [p for p in bodies(items, "in") if p.chain[1] == "http/1.1 GET /runs/RUN42/reads.fastq"]
    assert get.data == obj
