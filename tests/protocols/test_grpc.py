"""gRPC over HTTP/2 (and gRPC-Web over HTTP/1.1): one Payload per message, compression undone."""

from __future__ import annotations

import gzip
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import cramjam
import pytest
import zstandard

from sandbox.decode import limits
from sandbox.decode.limits import DECODE_STEP
from sandbox.model import Payload
from sandbox.protocols import grpc as grpc_mod
from sandbox.protocols.grpc import GrpcMessages
from sandbox.protocols.http1 import Http1Parser
from sandbox.protocols.http2 import Http2Parser
from sandbox.simulate import wire
from tests.protocols.test_http2 import Pair
from tests.protocols.test_httpbody import SECRET, TIGHT, allowance, bomb_after_secret
from tests.protocols.test_stream_parsers_conformance import make_ctx, parse_pcap, run

READS = [b"@r%d\nACGTTGCA%d\n+\nIIIIIIIII\n" % (i, i) * 50 for i in range(5)]
METHOD = "/sequencer.Upload/PutReads"


def frame(message: bytes, compressed: bool = False, flag: int | None = None) -> bytes:
    return struct.pack(">BI", int(compressed) if flag is None else flag, len(message)) + message


def messages(items: list, direction: str = "out") -> list[Payload]:
    return [p for p in items if isinstance(p, Payload) and p.direction == direction and "grpc" in p.chain
            and p.chain[-1] != "messages joined"]


def call(pair: Pair, sid: int, body: bytes, encoding: str = "", split: int = 7000) -> None:
    headers = [(":method", "POST"), (":path", METHOD), (":scheme", "http"), (":authority", "x"),
               ("content-type", "application/grpc+proto"), ("te", "trailers")]
    if encoding:
        headers.append(("grpc-encoding", encoding))
    pair.client.send_headers(sid, headers)
    for i in range(0, len(body), split):
        pair.client.send_data(sid, body[i : i + split], end_stream=i + split >= len(body))
    pair.flush()


def test_messages_split_across_and_within_data_frames() -> None:
    pair = Pair()
    call(pair, 1, b"".join(frame(m) for m in READS), split=333)
    ctx = make_ctx()
    got = messages(run(Http2Parser, pair.wire, ctx))
    assert [p.data for p in got] == READS
    assert all(p.chain == ("tcp", f"http/2 POST {METHOD}", "grpc") for p in got)
    assert [p.meta["grpc_message"] for p in got] == list(range(len(READS)))
    assert ctx.info.app == "grpc"


@pytest.mark.parametrize("encoding, compress", [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("zstd", zstandard.ZstdCompressor().compress)])
def test_compressed_messages(encoding: str, compress) -> None:
    pair = Pair()
    body = b"".join(frame(compress(m), True) if i % 2 else frame(m) for i, m in enumerate(READS))
    call(pair, 1, body, encoding)
    got = messages(run(Http2Parser, pair.wire))
    assert [p.data for p in got] == READS
    assert [p.chain[3:] for p in got] == [(), (f"grpc-encoding:{encoding}",)] * 2 + [()]
    assert [p.meta["compressed"] for p in got] == [False, True, False, True, False]


def test_response_messages_and_trailers() -> None:
    pair = Pair()
    call(pair, 1, frame(b"request"))
    pair.server.send_headers(1, [(":status", "200"), ("content-type", "application/grpc"), ("grpc-encoding", "gzip")])
    pair.server.send_data(1, frame(gzip.compress(b"reply one"), True) + frame(b"reply two"))
    pair.server.send_headers(1, [("grpc-status", "0")], end_stream=True)
    pair.flush()
    got = messages(run(Http2Parser, pair.wire), "in")
    assert [p.data for p in got] == [b"reply one", b"reply two"]
    assert got[0].chain[-1] == "grpc-encoding:gzip" and got[0].meta["status"] == 200


def test_unknown_encoding_and_truncation_are_marked() -> None:
    pair = Pair()
    call(pair, 1, frame(b"lzo-bytes", True) + frame(b"cut short")[:-3], "x-lzo")
    got = messages(run(Http2Parser, pair.wire))
    assert [p.data for p in got] == [b"lzo-bytes", b"cut sh"]
    assert got[0].meta["grpc_encoding"] == "x-lzo" and got[1].meta["truncated"] is True


def test_snappy_messages_are_decoded() -> None:
    pair = Pair()
    call(pair, 1, frame(bytes(cramjam.snappy.compress_raw(b"ACGT" * 500)), True), "snappy")
    got = messages(run(Http2Parser, pair.wire))
    assert [p.data for p in got] == [b"ACGT" * 500] and got[0].chain[-1] == "grpc-encoding:snappy"


def test_bad_compressed_message_is_kept_raw() -> None:
    out = []
    sink = GrpcMessages("gzip", lambda d, s, m, o: out.append((d, s, m)))
    sink.feed(frame(b"not gzip", True))
    sink.end()
    ((data, suffix, meta),) = out
    assert data == b"not gzip" and suffix == ("grpc",) and meta["decode_errors"]


def test_huge_message_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grpc_mod, "MAX_GRPC_MESSAGE", 1000)
    out = []
    sink = GrpcMessages("", lambda d, s, m, o: out.append((d, m.get("piece"), o)))
    big = b"".join(READS)
    for i in range(0, len(big) + 5, 400):
        sink.feed((frame(big) + frame(b"next"))[i : i + 400])
    sink.end()
    assert b"".join(d for d, piece, _ in out if piece is not None) == big
    assert out[-1] == (b"next", None, len(big) + 10)


def test_grpc_web_over_http1() -> None:
    body = frame(READS[0]) + frame(b"grpc-status: 0\r\n", flag=0x80)
    wire = (f"POST {METHOD} HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web+proto\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    got = messages(run(Http1Parser, [("out", wire)]))
    assert [p.data for p in got] == [READS[0], b"grpc-status: 0\r\n"]
    assert got[1].meta["grpc_web_trailers"] is True and got[0].chain[1] == f"http/1.1 POST {METHOD}"


# --------------------------------------------------------------------------- bombs behind real data


def run_bomb(encoding: str, bomb: bytes) -> tuple[list[tuple[bytes, tuple, dict, int]], int, float]:
    """One compressed message holding ``bomb``, then a plain one, fed 4 KiB at a time."""
    out: list[tuple[bytes, tuple, dict, int]] = []
    sink = GrpcMessages(encoding, lambda d, s, m, o: out.append((d, s, m, o)))
    body = frame(bomb, True) + frame(b"next message")
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        for i in range(0, len(body), 4096):
            sink.feed(body[i : i + 4096])
        sink.end()
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak, seconds


def check_bomb(encoding: str, bomb: bytes, out: list, ratio: int) -> None:
    """The decoded part (with the data and the note), then the compressed rest raw, then framing goes on."""
    note = f"{encoding}: limit: expansion ratio {ratio}x reached"
    (decoded, d_suffix, d_meta, d_off), (raw, r_suffix, r_meta, r_off), after = out
    assert decoded.startswith(SECRET) and not decoded[len(SECRET):].strip(b"\0")
    assert len(decoded) <= allowance(len(bomb)) + DECODE_STEP
    assert d_suffix == ("grpc", f"grpc-encoding:{encoding}") and r_suffix == ("grpc",)
    assert d_meta["decode_errors"] == r_meta["decode_errors"] == [note]
    assert (d_meta["piece"], r_meta["piece"], r_meta["raw"], "raw" in d_meta) == (0, 1, True, False)
    assert bomb.endswith(raw)  # the compressed remainder to the end (zstd: from its last held block)
    assert d_off == r_off == 5 and d_meta["grpc_message"] == 0
    assert after == (b"next message", ("grpc",), {"grpc_message": 1, "compressed": False}, 10 + len(bomb))


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bomb_behind_real_data_keeps_the_data(encoding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ratio 100x so deflate (at most ~1030x) can be a bomb; 64 MiB of zeros in the message."""
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", TIGHT)
    bomb = bomb_after_secret(encoding, 64)
    out, peak, seconds = run_bomb(encoding, bomb)
    check_bomb(encoding, bomb, out, 100)
    bound = 3 * allowance(len(bomb)) + 2 * DECODE_STEP + 4 * len(bomb)
    assert bound < 64 << 20 and peak < bound  # a few times the limit, never the 64 MiB
    assert seconds < 5


def test_zstd_bomb_at_the_real_ratio() -> None:
    """32 KiB of data + 200 MiB of zeros in one zstd frame (a few KiB on the wire)."""
    bomb = bomb_after_secret("zstd", 200)
    out, peak, seconds = run_bomb("zstd", bomb)
    check_bomb("zstd", bomb, out, limits.DEFAULT_LIMITS.max_ratio)
    limit = allowance(len(bomb))
    assert limit < 100 << 20 and peak < 3 * limit and seconds < 5


def test_large_decoded_message_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoded output past the piece cap goes out in pieces as it is decoded, not all at once."""
    monkeypatch.setattr(grpc_mod, "MAX_GRPC_MESSAGE", 10_000)
    monkeypatch.setattr(grpc_mod, "GRPC_DECODE_SLICE", 100)
    big = SECRET + b"".join(READS)  # incompressible first: output comes slice by slice
    out: list[tuple[bytes, tuple, dict]] = []
    sink = GrpcMessages("gzip", lambda d, s, m, o: out.append((d, s, m)))
    sink.feed(frame(gzip.compress(big), True))
    sink.end()
    assert b"".join(d for d, _, _ in out) == big and len(out) > 3
    assert all(len(d) < 10_000 + 1000 for d, _, _ in out)
    assert [m["piece"] for _, _, m in out] == list(range(len(out)))
    assert all(s == ("grpc", "grpc-encoding:gzip") and "decode_errors" not in m for _, s, m in out)


# --------------------------------------------------------------------------- live loopback (e2e)


@pytest.mark.e2e
def test_e2e_grpcio_client_server(tmp_path: Path) -> None:
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    from tests.protocols.test_stream_parsers_conformance import check_dissector, record_lo

    host, port = "127.66.3.1", 18564
    seen: list[bytes] = []

    def put_reads(request_iterator, context):
        for chunk in request_iterator:
            seen.append(chunk)
        return b"stored %d" % len(seen)

    handler = grpc.method_handlers_generic_handler("sequencer.Upload", {
        "PutReads": grpc.stream_unary_rpc_method_handler(put_reads, request_deserializer=bytes,
                                                         response_serializer=bytes)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    try:
        with record_lo(tmp_path / "grpc.pcapng", host, port) as pcap:
            with grpc.insecure_channel(f"{host}:{port}", compression=grpc.Compression.Gzip) as channel:
                stub = channel.stream_unary(METHOD, request_serializer=bytes, response_deserializer=bytes)
                assert stub(iter(READS), timeout=10) == b"stored 5"
    finally:
        server.stop(None)
    assert seen == READS
    items, ctxs = parse_pcap(pcap, Http2Parser)
    check_dissector(pcap, items)
    got = messages(items)
    assert [p.data for p in got] == READS
    assert all(p.chain[:3] == ("tcp", f"http/2 POST {METHOD}", "grpc") for p in got)
    assert any(p.chain[3:] == ("grpc-encoding:gzip",) for p in got)  # grpcio compresses what shrinks
    assert [p.data for p in messages(items, "in")] == [b"stored 5"]
    assert ctxs[0].info.app == "grpc"


def test_chunk_of_takes_the_bytes_field_that_is_most_of_a_message() -> None:
    chunk = bytes(range(256)) * 100
    assert grpc_mod.chunk_of(wire.protobuf_field(1, b"run42.fastq.gz") + wire.protobuf_field(2, chunk)) == chunk
    small = wire.protobuf_field(1, b"x" * 10) + wire.protobuf_field(2, b"y" * 10) + wire.protobuf_field(3, b"z" * 10)
    assert grpc_mod.chunk_of(small) == small                       # no field is most of it
    assert grpc_mod.chunk_of(b"\xff\xff not protobuf") == b"\xff\xff not protobuf"


def test_e2e_a_file_streamed_in_chunks_is_followed_across_messages(tmp_path: Path) -> None:
    """gRPC's upload pattern: a client stream of messages, each the file's name and a 32 kB chunk of it;
    a gzip of reads behind 150 kB of noise is read past its first chunk."""
    grpc = pytest.importorskip("grpc")
    import os
    from concurrent import futures

    from tests.protocols.test_stream_parsers_conformance import record_lo

    host, port = "127.66.3.1", 18565
    reads = b"".join(READS) * 20
    blob = gzip.compress(os.urandom(150_000) + reads)
    chunks = [wire.protobuf_field(1, b"run42.fastq.gz") + wire.protobuf_field(2, blob[at: at + 32768]) for at in range(0, len(blob), 32768)]
    handler = grpc.method_handlers_generic_handler("sequencer.Upload", {
        "PutReads": grpc.stream_unary_rpc_method_handler(lambda it, ctx: b"%d" % sum(1 for _ in it),
                                                         request_deserializer=bytes, response_serializer=bytes)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    try:
        with record_lo(tmp_path / "chunks.pcapng", host, port) as pcap:
            with grpc.insecure_channel(f"{host}:{port}") as channel:
                stub = channel.stream_unary(METHOD, request_serializer=bytes, response_deserializer=bytes)
                assert stub(iter(chunks), timeout=10) == b"%d" % len(chunks)
    finally:
        server.stop(None)
    items, _ = parse_pcap(pcap, Http2Parser)
    followed = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain[-1] == "gzip stream")
    assert reads[-2000:] in followed


def test_a_file_streamed_on_one_call_is_followed_while_other_calls_multiplex() -> None:
    """A gRPC channel multiplexes its calls: status calls' messages between the upload's chunks are on
    streams of their own, and the upload's chunks are followed on theirs."""
    import os

    reads = b"".join(READS) * 20
    blob = gzip.compress(os.urandom(150_000) + reads)
    headers = [(":method", "POST"), (":path", METHOD), (":scheme", "http"), (":authority", "x"),
               ("content-type", "application/grpc+proto"), ("te", "trailers")]
    pair = Pair()
    pair.client.local_settings.initial_window_size = 1 << 30
    pair.client.send_headers(1, headers)
    chunks = [wire.protobuf_field(1, b"run42.fastq.gz") + wire.protobuf_field(2, blob[at: at + 32768])
              for at in range(0, len(blob), 32768)]
    for n, chunk in enumerate(chunks):
        body = frame(chunk)
        for at in range(0, len(body), 16000):
            pair.client.send_data(1, body[at: at + 16000])
            pair.flush()
        status = 3 + 2 * n                                  # a status call between every two chunks
        pair.client.send_headers(status, headers)
        pair.client.send_data(status, frame(wire.protobuf_field(1, b"status %d" % n)), end_stream=True)
        pair.flush()
    pair.client.end_stream(1)
    pair.flush()
    items = run(Http2Parser, pair.wire)
    followed = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain[-1] == "gzip stream")
    assert reads[-2000:] in followed
