"""HTTP/2 parser: frames, HPACK, streams, padding, CONTINUATION, caps; real h2 traffic and DoH."""

from __future__ import annotations

import gzip
import socket
import threading
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.model import Payload
from sandbox.protocols import http2
from sandbox.protocols.follow import flush_joined
from sandbox.protocols.http2 import PREFACE, Http2Parser
from tests.protocols.test_stream_parsers_conformance import make_ctx, parse_pcap, payloads, run

DATA = b"".join(b"@r%d\nACGTACGGTTCA\n+\nFFFFFFFFFFFF\n" % i for i in range(3000))


class Pair:
    """An h2 client and server talking in memory; every flight is recorded as the wire saw it."""

    def __init__(self) -> None:
        self.client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.wire: list[tuple[str, bytes]] = []
        self.client.initiate_connection()
        self.flush()
        self.server.initiate_connection()
        self.flush()

    def flush(self) -> None:
        for conn, peer, direction in ((self.client, self.server, "out"), (self.server, self.client, "in")):
            data = conn.data_to_send()
            if data:
                self.wire.append((direction, data))
                for event in peer.receive_data(data):
                    if isinstance(event, h2.events.DataReceived):
                        peer.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                self.flush()


def request(pair: Pair, sid: int, path: str, body: bytes = b"", headers: list | None = None, **kw) -> None:
    pair.client.send_headers(sid, [(":method", "POST" if body else "GET"), (":path", path), (":scheme", "http"),
                                   (":authority", "sequencer.example"), ("user-agent", "ctl/2"), *(headers or [])],
                             end_stream=not body)
    pair.flush()
    if body:
        for i in range(0, len(body), 16000):
            pair.client.send_data(sid, body[i : i + 16000], end_stream=i + 16000 >= len(body), **kw)
            pair.flush()


def respond(pair: Pair, sid: int, body: bytes, headers: list | None = None) -> None:
    pair.server.send_headers(sid, [(":status", "200"), *(headers or [])])
    pair.server.send_data(sid, body, end_stream=True)
    pair.flush()


def frame_types(wire: bytes) -> list[int]:
    types, pos = [], 0
    while pos + 9 <= len(wire):
        types.append(wire[pos + 3])
        pos += 9 + int.from_bytes(wire[pos : pos + 3], "big")
    return types


def bodies(items: list, direction: str = "out") -> list[Payload]:
    """Each message's body (not the URL view, not short bodies read joined)."""
    return [p for p in items if isinstance(p, Payload) and p.direction == direction
            and p.chain[-1] not in ("url", "messages joined")]


def test_detect() -> None:
    assert Http2Parser.detect(PREFACE, b"", 5000, 80)
    assert Http2Parser.detect(PREFACE[:8], b"", 5000, 80)
    assert not Http2Parser.detect(b"GET / HTTP/1.1\r\n", b"", 5000, 80)


def test_streams_bodies_heads_and_meta() -> None:
    pair = Pair()
    request(pair, 1, "/upload?run=RUN42", DATA)
    request(pair, 3, "/status")
    respond(pair, 3, b"idle")
    respond(pair, 1, b"stored")
    ctx = make_ctx()
    items = run(Http2Parser, pair.wire, ctx)
    (up,) = bodies(items)
    assert up.data == DATA and up.chain == ("tcp", "http/2 POST /upload")
    assert up.meta["host"] == "sequencer.example" and up.meta["path"] == "/upload?run=RUN42"
    assert [(p.chain[1], p.data, p.meta["status"]) for p in bodies(items, "in")] == [
        ("http/2 GET /status", b"idle", 200), ("http/2 POST /upload", b"stored", 200)]
    heads = payloads(items, "url")
    assert len(heads) == 2 and b"run=RUN42" in heads[0].data
    assert ctx.info.app == "http/2" and ctx.destination == "sequencer.example"
    assert ctx.info.meta["user-agent"] == "ctl/2" and not ctx.info.errors


def test_interleaved_streams_and_padding() -> None:
    pair = Pair()
    for sid in (1, 3, 5):
        pair.client.send_headers(sid, [(":method", "PUT"), (":path", f"/f{sid}"), (":scheme", "http"),
                                       (":authority", "x")])
    for i in range(0, 9000, 1000):
        for sid in (1, 3, 5):
            pair.client.send_data(sid, DATA[sid * 10000 + i : sid * 10000 + i + 1000], pad_length=17)
    for sid in (1, 3, 5):
        pair.client.end_stream(sid)
    pair.flush()
    got = {p.chain[1]: p.data for p in bodies(run(Http2Parser, pair.wire))}
    assert got == {f"http/2 PUT /f{sid}": DATA[sid * 10000 : sid * 10000 + 9000] for sid in (1, 3, 5)}


def test_continuation_frames_keep_hpack_in_step() -> None:
    pair = Pair()
    big = [(f"x-meta-{i}", "v" * 200) for i in range(150)]  # ~30 KB of headers: HEADERS + CONTINUATION
    request(pair, 1, "/big-headers", b"first", big)
    request(pair, 3, "/after", b"second", big[:3])
    assert http2.CONTINUATION in frame_types(b"".join(d for x, d in pair.wire if x == "out")[len(PREFACE) :])
    items = run(Http2Parser, pair.wire)
    assert [(p.chain[1], p.data) for p in bodies(items)] == [("http/2 POST /big-headers", b"first"),
                                                             ("http/2 POST /after", b"second")]
    assert b"x-meta-149: " + b"v" * 200 in payloads(items, "url")[0].data


def test_content_encoding_and_rst_stream() -> None:
    pair = Pair()
    request(pair, 1, "/gz", gzip.compress(DATA), [("content-encoding", "gzip")])
    pair.client.send_headers(3, [(":method", "POST"), (":path", "/cut"), (":scheme", "http"), (":authority", "x")])
    pair.client.send_data(3, b"partial")
    pair.client.reset_stream(3)
    pair.flush()
    items = bodies(run(Http2Parser, pair.wire))
    assert [(p.chain[1:], p.data) for p in items] == [
        (("http/2 POST /gz", "content-encoding:gzip"), DATA), (("http/2 POST /cut",), b"partial")]
    assert items[1].meta["truncated"] is True


def test_per_stream_cap_emits_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http2, "MAX_STREAM_PIECE", 10_000)
    pair = Pair()
    request(pair, 1, "/big", DATA)
    pieces = bodies(run(Http2Parser, pair.wire))
    assert b"".join(p.data for p in pieces) == DATA and max(len(p.data) for p in pieces) <= 16_000 + 10_000
    assert len(pieces) > 5 and [p.meta.get("piece") for p in pieces] == list(range(len(pieces)))


def test_open_streams_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http2, "MAX_OPEN_STREAMS", 4)
    pair = Pair()
    for sid in range(1, 20, 2):
        pair.client.send_headers(sid, [(":method", "POST"), (":path", f"/s{sid}"), (":scheme", "http"),
                                       (":authority", "x")])
        pair.client.send_data(sid, b"open %d" % sid)
    pair.flush()
    parser = Http2Parser(make_ctx())
    items = []
    for direction, data in pair.wire:
        items += parser.feed(direction, data, 0.0)
    assert len(parser.streams) <= 4
    items += parser.close(1.0)
    assert sorted(p.data for p in bodies(items)) == sorted(b"open %d" % sid for sid in range(1, 20, 2))


def test_server_push_keeps_hpack_state() -> None:
    pair = Pair()
    request(pair, 1, "/index")
    pair.server.push_stream(1, 2, [(":method", "GET"), (":path", "/pushed.js"), (":scheme", "http"),
                                   (":authority", "x")])
    pair.server.send_headers(2, [(":status", "200")])
    pair.server.send_data(2, b"pushed body", end_stream=True)
    respond(pair, 1, b"index body")
    got = [(p.chain[1], p.data) for p in bodies(run(Http2Parser, pair.wire), "in")]
    assert got == [("http/2 GET /pushed.js", b"pushed body"), ("http/2 GET /index", b"index body")]


def test_bad_frames_go_raw_and_never_raise() -> None:
    pair = Pair()
    request(pair, 1, "/ok", b"fine")
    ctx = make_ctx()
    # a HEADERS block that HPACK cannot decode: the connection's header state is lost
    items = run(Http2Parser, [*pair.wire, ("out", b"\x00\x00\x03\x01\x05\x00\x00\x00\x03\xff\xff\xff" + b"rest")], ctx)
    assert [p.data for p in bodies(items) if p.chain[-1] != "http/2 unparsed"] == [b"fine"]
    assert payloads(items, "http/2 unparsed")[-1].data == b"rest"
    assert ctx.info.errors


def test_bytes_after_a_hole_that_are_no_frames_go_raw() -> None:
    pair = Pair()
    request(pair, 1, "/x", b"before")
    parser = Http2Parser(make_ctx())
    items = []
    for direction, data in pair.wire:
        items += parser.feed(direction, data, 0.0)
    items += parser.gap("out", 100) + parser.feed("out", b"after the hole", 1.0) + parser.close(2.0)
    assert b"".join(p.data for p in payloads(items, "http/2 unparsed")) == b"after the hole"


def _cut(pair: Pair, start: int, size: int) -> list[tuple[str, bytes | int]]:
    """The wire with ``size`` client bytes from client offset ``start`` missing (a reassembly hole)."""
    out: list[tuple[str, bytes | int]] = []
    offset = 0
    for direction, data in pair.wire:
        if direction == "out" and offset <= start + size and start < offset + len(data):
            a, b = max(start - offset, 0), min(start + size - offset, len(data))
            out += [("out", data[:a]), ("out", b - a), ("out", data[b:])]
        else:
            out.append((direction, data))
        offset += len(data) if direction == "out" else 0
    return out


def _feed(wire: list[tuple[str, bytes | int]]) -> tuple[list, object]:
    ctx = make_ctx()
    parser = Http2Parser(ctx)
    items: list = []
    for direction, data in wire:
        items += parser.gap(direction, data) if isinstance(data, int) else parser.feed(direction, data, 1.0)
    return items + parser.close(2.0), ctx


def test_a_hole_resynchronises_on_the_next_frame_and_keeps_data_with_its_stream() -> None:
    pair = Pair()
    request(pair, 1, "/upload", DATA)                       # ~100 KB in 16000-byte DATA frames
    client = b"".join(d for x, d in pair.wire if x == "out")
    hole_at = client.index(DATA[40000:40100])               # inside the third DATA frame
    request(pair, 3, "/again", b"second body")             # headers that index entries sent before the hole
    pair.client.send_headers(5, [(":method", "POST"), (":path", "/later"), (":scheme", "http"),
                                 (":authority", "other.example"), ("x-run", "fresh literals")])
    pair.client.send_data(5, b"third body", end_stream=True)
    pair.flush()
    items, ctx = _feed(_cut(pair, hole_at, 5000))
    upload = [p for p in bodies(items) if p.chain[1] == "http/2 POST /upload"]
    before, after = upload[0].data, b"".join(p.data for p in upload[1:])
    assert DATA.startswith(before) and before and DATA.endswith(after)
    assert len(after) > len(DATA) - 40100 - 5000 - 16000      # all but what the hole took and its frame
    assert upload[-1].meta["after_hole"] and upload[0].meta["truncated"]
    unlabelled = [p.data for p in bodies(items) if p.chain[1] == "http/2 ? ?"]
    assert unlabelled == [b"second body"]                 # its header block is skipped, its DATA kept
    assert [p.data for p in bodies(items) if p.chain[1] == "http/2 POST /later"] == [b"third body"]
    assert ctx.info.meta["http2_holes"] == 1 and any("header block skipped" in e for e in ctx.info.errors)
    raw = [p.data for p in payloads(items, "http/2 unparsed")]   # the frame the hole cut, either side of it
    assert sum(map(len, raw)) < 16000 + 9 and all(piece in client for piece in raw)


_HOLE_PAIR = Pair()
request(_HOLE_PAIR, 1, "/upload", DATA[:40000])
request(_HOLE_PAIR, 3, "/next", DATA[40000:60000])


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 62000), size=st.integers(1, 20000))
def test_a_hole_anywhere_never_raises_and_bodies_stay_true(start: int, size: int) -> None:
    items, _ = _feed(_cut(_HOLE_PAIR, start, size))
    for p in bodies(items):
        if p.chain[-1] != "http/2 unparsed":
            assert p.data in DATA[:60000], p.chain       # no frame header or stray byte inside a body


def test_no_frame_boundary_within_the_bound_gives_the_side_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http2, "MAX_RESYNC", 5000)
    pair = Pair()
    request(pair, 1, "/x", b"before")
    wire: list[tuple[str, bytes | int]] = [*pair.wire, ("out", 10), ("out", b"\xff" * 20000)]
    items, ctx = _feed(wire)
    assert b"".join(p.data for p in payloads(items, "http/2 unparsed")) == b"\xff" * 20000
    assert any("no frame boundary" in e for e in ctx.info.errors)


def test_real_doh_over_http2(shared_data: Path) -> None:
    items, ctxs = parse_pcap(shared_data / "captures" / "http" / "suricata-verify_dns_over_https_POST.pcap",
                             Http2Parser)
    queries = [p for p in bodies(items) if p.chain == ("tcp", "http/2 POST /dns-query")]
    answers = [p for p in bodies(items, "in") if p.chain == ("tcp", "http/2 POST /dns-query")]
    assert len(queries) >= 20 and len(answers) >= 20
    assert any(b"\x07example\x03com\x00" in q.data for q in queries)
    assert all(q.data[2:4] == b"\x01\x00" for q in queries)  # DNS header: standard query, RD
    assert all(a.meta["status"] == 200 for a in answers)
    assert not [e for c in ctxs for e in c.info.errors]


# --------------------------------------------------------------------------- live loopback (e2e)


HOST = "127.66.2.1"


def _h2_server(port: int) -> tuple[socket.socket, list[bytes]]:
    """A prior-knowledge HTTP/2 server on the h2 library: stores bodies, answers gzip."""
    received: list[bytes] = []
    listener = socket.create_server((HOST, port))

    def serve(sock: socket.socket) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        bodies: dict[int, bytes] = {}
        while True:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    body = bodies.pop(event.stream_id, b"")
                    received.append(body)
                    conn.send_headers(event.stream_id, [(":status", "200"), ("content-encoding", "gzip")])
                    conn.send_data(event.stream_id, gzip.compress(b"got %d" % len(body)), end_stream=True)
            sock.sendall(conn.data_to_send())
        sock.close()

    def accept() -> None:
        try:
            while True:
                sock, _ = listener.accept()
                threading.Thread(target=serve, args=(sock,), daemon=True).start()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    return listener, received


def _h2_client(port: int, uploads: dict[str, bytes]) -> None:
    sock = socket.create_connection((HOST, port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    open_streams = set()
    for path, body in uploads.items():
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "POST"), (":path", path), (":scheme", "http"),
                                (":authority", f"{HOST}:{port}")])
        open_streams.add(sid)
        pos = 0
        while pos < len(body):
            window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, len(body) - pos)
            if window <= 0:
                for event in conn.receive_data(sock.recv(65536)):
                    if isinstance(event, h2.events.StreamEnded):
                        open_streams.discard(event.stream_id)
                sock.sendall(conn.data_to_send())
                continue
            conn.send_data(sid, body[pos : pos + window])
            pos += window
            sock.sendall(conn.data_to_send())
        conn.end_stream(sid)
        sock.sendall(conn.data_to_send())
    while open_streams:
        for event in conn.receive_data(sock.recv(65536)):
            if isinstance(event, h2.events.StreamEnded):
                open_streams.discard(event.stream_id)
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        sock.sendall(conn.data_to_send())
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()


@pytest.mark.e2e
def test_e2e_h2_prior_knowledge(tmp_path: Path) -> None:
    from tests.protocols.test_stream_parsers_conformance import check_dissector, record_lo

    listener, received = _h2_server(0)       # ephemeral: helpers run this test at the same time
    port = listener.getsockname()[1]
    uploads = {"/runs/RUN42/reads.fastq": DATA * 3, "/runs/RUN42/SampleSheet.csv": b"Sample_ID,S1\n"}
    try:
        with record_lo(tmp_path / "h2.pcapng", HOST, port) as pcap:
            _h2_client(port, uploads)
    finally:
        listener.close()
    assert sorted(received) == sorted(uploads.values())
    items, ctxs = parse_pcap(pcap, Http2Parser)
    check_dissector(pcap, items)
    assert {p.chain[1]: p.data for p in bodies(items)} == {f"http/2 POST {k}": v for k, v in uploads.items()}
    answers = bodies(items, "in")
    assert sorted(p.data for p in answers) == sorted(b"got %d" % len(v) for v in uploads.values())
    assert all(p.chain[-1] == "content-encoding:gzip" for p in answers)
    assert ctxs[0].info.app == "http/2" and not ctxs[0].info.errors


def test_a_status_of_other_digits_is_kept_as_text_not_a_crash() -> None:
    """str.isdigit() takes "²", which int() refuses: the parser raised on such a status."""
    pair = Pair()
    request(pair, 1, "/status")
    pair.server.send_headers(1, [(b":status", b"\xb200")])
    pair.server.send_data(1, b"idle", end_stream=True)
    pair.flush()
    (answer,) = bodies(run(Http2Parser, pair.wire, make_ctx()), "in")
    assert answer.data == b"idle" and answer.meta["status"] == "\xb200"


def _frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def test_bytes_outside_streams_are_scanned_not_dropped() -> None:
    """Padding that is not zeros, GOAWAY debug data, frames of a type nobody registered: a peer that
    follows the RFC drops them, the instrument's own server reads them."""
    pair = Pair()
    request(pair, 1, "/status")
    wire = b"".join(data for direction, data in pair.wire if direction == "out")
    sides = [_frame(0x0, 0x8, 1, bytes([200]) + b"ok" + DATA[:200]),          # DATA, 200 bytes of padding
             _frame(0xF3, 0, 0, DATA[200:9000]),                               # an extension frame
             _frame(0x7, 0, 0, bytes(8) + DATA[9000:12000]),                   # GOAWAY's debug data
             _frame(0x0, 0x8, 1, bytes([50]) + b"zz" + bytes(50))]             # padding of zeros: nothing
    items = run(Http2Parser, [("out", wire + b"".join(sides))])
    side = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain[-1] == http2.SIDE_LABEL)
    assert side == DATA[:12000]


def test_control_frames_values_are_streams_of_their_own() -> None:
    """WINDOW_UPDATE increments, SETTINGS ids and values, PRIORITY and RST_STREAM codes the instrument
    sends: each field joined over its frames (a lone value is too short to say anything)."""
    def frame(ftype: int, payload: bytes, sid: int = 0) -> bytes:
        return len(payload).to_bytes(3, "big") + bytes([ftype, 0]) + sid.to_bytes(4, "big") + payload

    wire = PREFACE + frame(4, b"\x0a\x0aSETT" + b"\x0b\x0bINGS") + frame(8, b"WIND") + frame(8, b"OW U")
    wire += frame(2, b"PRIOR", 3) + frame(2, b"ITIES", 5) + frame(3, b"RST!", 3) + frame(3, b"RST?", 5)
    ctx = make_ctx()
    items = run(Http2Parser, [("out", wire), ("in", frame(4, b"") + frame(8, b"serv"))], ctx)
    items += flush_joined(ctx.shared, None, None)       # batches across connections: the flow table's
    joined: dict[str, bytes] = {}
    for p in items:
        if isinstance(p, Payload) and p.chain[-1] == "messages joined":
            joined[p.chain[-2]] = joined.get(p.chain[-2], b"") + p.data[p.repeated:]
            assert p.direction == "out"
    assert joined == {"http/2 settings values": b"SETTINGS", "http/2 settings ids": b"\x0a\x0a\x0b\x0b",
                      "http/2 window increments": b"WINDOW U", "http/2 priorities": b"PRIORITIES",
                      "http/2 reset codes": b"RST!RST?"}
