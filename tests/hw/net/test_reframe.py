"""Reframed messages parse, with the core's own parsers, to the content mitmproxy saw."""

from __future__ import annotations

import gzip
import struct

from hw.net.reframe import IN, OUT, Reframer
from sandbox.model import Payload, Segment
from sandbox.protocols import Dissector

CLIENT, SERVER = ("10.0.0.2", 50000), ("10.0.0.9", 443)


def dissect(chunks: list[tuple[str, bytes]]) -> list[Payload]:
    d = Dissector()
    out = []
    for i, (direction, data) in enumerate(chunks):
        src, dst = (CLIENT, SERVER) if direction == OUT else (SERVER, CLIENT)
        out += d.feed(Segment(1.0 + i / 100, "net", "tls", src[0], src[1], dst[0], dst[1], data,
                              meta={"client": "src" if direction == OUT else "dst"}))
    out += d.close()
    return [p for p in out if isinstance(p, Payload) and p.direction == "out"]


def bodies(payloads: list[Payload]) -> list[tuple[tuple[str, ...], bytes]]:
    """Each message's body (not its head, not values or short bodies read joined)."""
    return [(p.chain, p.data) for p in payloads if not p.meta.get("head") and p.chain[-1] != "messages joined"]


def test_http1_content_length_body_in_pieces_is_one_payload():
    r = Reframer()
    chunks = r.request(1, b"POST", b"/up?run=1", "HTTP/1.1", [(b"Host", b"x.example"), (b"Content-Length", b"10")])
    chunks += r.body(1, b"hello") + r.body(1, b"world") + r.end(1)
    chunks += r.response(1, 200, b"OK", "HTTP/1.1", [(b"Content-Length", b"1234")])
    out = dissect(chunks)
    assert bodies(out) == [(("tcp", "tls", "http/1.1 POST /up"), b"helloworld")]
    head = [p for p in out if p.meta.get("head")][0]
    assert b"/up?run=1" in head.data and head.chain[-1] == "url"


def test_http1_chunked_gzip_is_decoded_and_keep_alive_pairs_the_next_request():
    r = Reframer()
    raw = gzip.compress(b"ACGT" * 5000)
    chunks = r.request(1, b"PUT", b"/a", "HTTP/1.1", [(b"Transfer-Encoding", b"chunked"),
                                                       (b"Content-Encoding", b"gzip")])
    for i in range(0, len(raw), 333):
        chunks += r.body(1, raw[i:i + 333])
    chunks += r.end(1) + r.response(1, 200, b"OK", "HTTP/1.1", [(b"Transfer-Encoding", b"chunked")])
    chunks += r.request(2, b"POST", b"/b", "HTTP/1.1", [(b"Content-Length", b"3")]) + r.body(2, b"xyz") + r.end(2)
    got = bodies(dissect(chunks))
    assert got == [(("tcp", "tls", "http/1.1 PUT /a", "content-encoding:gzip"), b"ACGT" * 5000),
                   (("tcp", "tls", "http/1.1 POST /b"), b"xyz")]


def test_http2_request_with_a_grpc_message_in_many_frames():
    r = Reframer()
    msg = b"R" * 40000
    grpc = b"\0" + struct.pack(">I", len(msg)) + msg
    chunks = r.request(1, b"POST", b"/svc.Up/Put", "HTTP/2.0", [(b"content-type", b"application/grpc")],
                       authority=b"cloud.example")
    chunks += r.body(1, grpc) + r.end(1, [(b"x-trailer", b"1")])
    chunks += r.response(1, 200, b"", "HTTP/2.0", [(b"content-type", b"application/grpc")])
    out = dissect(chunks)
    got = bodies(out)
    assert len(got) == 1 and got[0][1] == msg and got[0][0][:3] == ("tcp", "tls", "http/2 POST /svc.Up/Put")
    assert "grpc" in got[0][0][-1]


def test_websocket_messages_after_the_upgrade_deflated_again_when_it_was_negotiated():
    r = Reframer()
    chunks = r.request(1, b"GET", b"/live", "HTTP/1.1", [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")])
    chunks += r.end(1) + r.response(1, 101, b"Switching Protocols", "HTTP/1.1",
                                    [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
                                     (b"Sec-WebSocket-Extensions", b"permessage-deflate; client_max_window_bits")])
    chunks += r.websocket(True, True, b'{"reads": ["ACGTACGT"]}') + r.websocket(False, True, b"ok")
    chunks += r.websocket(True, False, bytes(range(256)) * 300)
    got = bodies(dissect(chunks))
    assert [d for _, d in got] == [b'{"reads": ["ACGTACGT"]}', bytes(range(256)) * 300]
    assert all(c[-2:] == ("websocket", "permessage-deflate") for c, _ in got)


def test_tcp_messages_are_the_bytes_themselves():
    r = Reframer()
    assert r.tcp(True, b"HELO x\r\n") == [(OUT, b"HELO x\r\n")]
    assert r.tcp(False, b"220\r\n") == [(IN, b"220\r\n")]
    assert r.tcp(True, b"") == []


def test_messages_of_unknown_numbers_are_ignored():
    r = Reframer()
    assert r.body(7, b"x") == [] and r.end(7) == []


def test_requests_never_answered_are_bounded():
    from hw.net.reframe import MAX_OPEN_MESSAGES

    r = Reframer()
    for n in range(MAX_OPEN_MESSAGES + 10):
        r.request(n, b"GET", b"/", "HTTP/1.1", [])
    assert len(r.messages) == MAX_OPEN_MESSAGES and 0 not in r.messages
