"""Shared HTTP body handling: chunked framing, content codings, sinks and the BodyPipe."""

from __future__ import annotations

import functools
import gzip
import random
import struct
import subprocess
import time
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from sandbox.decode import limits
from sandbox.decode.limits import DECODE_STEP, Limits
from sandbox.protocols import httpbody
from sandbox.protocols.httpbody import (
    BodyPipe,
    ChunkedDecoder,
    CodingError,
    PlainSink,
    decoding_order,
    make_coding,
    make_sink,
)
from tests.protocols.test_http1 import chunked

# Bombs of 64 MiB stay bombs at the real ratio with a 1 MiB floor (the real floor is 16 MiB).
TIGHT = Limits(ratio_floor=1 << 20)


def allowance(n: int) -> int:
    """Output the codec layer allows from n input bytes, under the limits in force."""
    return limits.DEFAULT_LIMITS.ratio_allowance(n)


FASTQ = b"".join(b"@r%d\nACGTTGCAAGGCTTAACCGT%d\n+\nIIIIIIIIIIIIIIIIIIII\n" % (i, i % 10) for i in range(3000))


def collect(content_encoding: str = "", content_type: str = "", piece: int | None = None,
            grpc_encoding: str = "") -> tuple[BodyPipe, list[tuple[bytes, tuple[str, ...], dict, int]]]:
    got: list[tuple[bytes, tuple[str, ...], dict, int]] = []
    pipe = BodyPipe(content_encoding, content_type, lambda d, s, m, o: got.append((d, s, m, o)), piece,
                    grpc_encoding)
    return pipe, got


def feed_in(pipe: BodyPipe, data: bytes, step: int) -> None:
    for i in range(0, len(data), step):
        pipe.feed(data[i : i + step])
    pipe.end()


# --------------------------------------------------------------------------- chunked framing


@pytest.mark.parametrize("step", [1, 7, 4096, 10**9])
def test_chunked_with_trailers_and_the_next_message_behind(step: int) -> None:
    trailers = b"x-checksum: 1234\r\ngrpc-status: 0\r\n"
    body = chunked(FASTQ, 1000, b";name=v", trailers)
    wire = body + b"GET /next HTTP/1.1\r\n\r\n"
    dec = ChunkedDecoder()
    out, used = [], 0
    while not dec.done and used < len(wire):
        parts, n = dec.feed(wire[used : used + step])
        out += parts
        used += n
    assert dec.done and used == len(body)  # the caller resumes at the next message
    assert b"".join(out) == FASTQ
    assert bytes(dec.trailers) == trailers.replace(b"\r\n", b"\n")
    assert dec.extensions[0] == b"name=v" and len(dec.extensions) == 4  # bounded


@pytest.mark.parametrize("wire", [b"zz\r\n", b"5\r\nhelloX\r\n", b"1" * 20 + b"\r\n"])
def test_chunked_rejects_bad_framing(wire: bytes) -> None:
    with pytest.raises(CodingError):
        ChunkedDecoder().feed(wire)


def test_chunked_line_and_trailers_are_bounded() -> None:
    with pytest.raises(CodingError, match="over limit"):
        ChunkedDecoder().feed(b"z" * (httpbody.MAX_CHUNK_LINE + 1))
    extension = ChunkedDecoder()        # a size and a long extension: streamed beside the body, not held
    extension.feed(b"1" + b";" * httpbody.MAX_CHUNK_LINE * 4)
    assert not extension._line and extension._state == "extension"
    dec = ChunkedDecoder()
    dec.feed(b"0\r\n")
    with pytest.raises(CodingError, match="over limit"):
        for _ in range(httpbody.MAX_TRAILERS // 100 + 2):
            dec.feed(b"x-t: " + b"a" * 95 + b"\r\n")


# --------------------------------------------------------------------------- codings


def test_aws_chunked_with_chunk_signatures_and_trailer() -> None:
    sig = b";chunk-signature=" + b"ab" * 32
    trailer = b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:" + b"cd" * 32 + b"\r\n"
    enc = chunked(FASTQ, 8192, sig, trailer)
    for step in (13, len(enc)):
        pipe, got = collect("aws-chunked")
        feed_in(pipe, enc, step)
        ((data, suffix, meta, off),) = got
        assert data == FASTQ and suffix == ("content-encoding:aws-chunked",) and off == 0
        assert meta["trailers"].startswith("x-amz-checksum-crc32:AAAAAA==\n")
        assert not pipe.errors and not pipe.wire_exact


def test_aws_chunked_is_undone_before_the_object_coding() -> None:
    assert decoding_order("gzip, aws-chunked") == ["aws-chunked", "gzip"]
    assert decoding_order("deflate, identity, br") == ["br", "deflate"]
    pipe, got = collect("aws-chunked, gzip")
    feed_in(pipe, chunked(gzip.compress(FASTQ), 4096, b";chunk-signature=00"), 1000)
    assert [(d, s) for d, s, _, _ in got] == [(FASTQ, ("content-encoding:aws-chunked", "content-encoding:gzip"))]


@pytest.mark.parametrize("step", [1, 100, 10**9])
def test_gzip_multi_member_with_zero_padding(step: int) -> None:
    data = gzip.compress(FASTQ[:5000]) + gzip.compress(FASTQ[5000:60000]) + gzip.compress(FASTQ[60000:])
    coding = make_coding("x-gzip")
    assert coding is not None and coding.name == "gzip"
    out = [coding.feed(data[i : i + step]) for i in range(0, len(data), step)]
    out.append(coding.feed(b"\0" * 64))  # tar-style padding after the last member
    assert b"".join(out) + coding.end() == FASTQ
    assert not coding.failed and not coding.note


def test_truncated_gzip_keeps_what_it_decoded_with_a_note() -> None:
    data = gzip.compress(FASTQ)
    pipe, got = collect("gzip")
    feed_in(pipe, data[: len(data) // 2], 333)
    ((out, suffix, meta, _),) = got
    assert suffix == ("content-encoding:gzip",) and "decode_errors" not in meta
    assert 1000 < len(out) < len(FASTQ) and FASTQ.startswith(out)
    assert pipe.errors == ["gzip: stream truncated"]


def test_zstd_bomb_stops_at_the_expansion_limit_with_a_note() -> None:
    """Real content (its own frame, decoded and kept), then 200 MiB of zeros in a few KB."""
    prefix = random.Random(1).randbytes(32 * 1024)
    comp = zstandard.ZstdCompressor().compressobj()
    zeros = b"".join(comp.compress(bytes(1 << 20)) for _ in range(200)) + comp.flush()
    bomb = zstandard.ZstdCompressor().compress(prefix) + zeros
    assert len(zeros) < 10_000
    pipe, got = collect("zstd")
    pipe.feed(bomb[: len(bomb) - len(zeros)])
    feed_in(pipe, zeros, 4096)
    data = b"".join(d for d, _, _, _ in got)
    limit = allowance(len(bomb))
    assert data.startswith(prefix) and len(data) <= limit + len(bomb)  # never the 200 MiB
    assert data.endswith(zeros[-4096:])  # from the limit on, the input passes through raw
    assert all(s == () for _, s, _, _ in got)  # not claimed as decoded
    note = "zstd: limit: expansion ratio 100x reached"
    assert got[0][2]["decode_errors"] == [note] and pipe.errors == [note]


def test_deflate_both_wrappings_br_and_zstd_frames() -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    cases = {
        "deflate": [zlib.compress(FASTQ), raw.compress(FASTQ) + raw.flush()],
        "br": [brotli.compress(FASTQ)],
        "zstd": [zstandard.ZstdCompressor().compress(FASTQ[:9000]) + zstandard.ZstdCompressor().compress(FASTQ[9000:])],
    }
    for name, encoded in cases.items():
        for enc in encoded:
            coding = make_coding(name.upper())
            assert coding is not None
            out = b"".join(coding.feed(enc[i : i + 5000]) for i in range(0, len(enc), 5000)) + coding.end()
            assert out == FASTQ and not coding.failed, name


def test_bad_input_and_unknown_codings_pass_through() -> None:
    assert make_coding("exi") is None
    pipe, got = collect("gzip")
    feed_in(pipe, b"not gzip at all", 4)
    assert [(d, s) for d, s, _, _ in got] == [(b"not gzip at all", ())]
    assert got[0][2]["decode_errors"][0].startswith("gzip: ")
    pipe, got = collect("gzip, exi")  # EXI was applied last: nothing under it can be undone
    feed_in(pipe, b"opaque", 100)
    assert [(d, s) for d, s, _, _ in got] == [(b"opaque", ())] and pipe.wire_exact


def test_compress_coding_is_undone() -> None:
    """HTTP's "compress" (RFC 9110 8.4.1.1): compress(1)'s LZW, as Debian's ncompress writes it."""
    dot_z = subprocess.run(["compress", "-c"], input=FASTQ, capture_output=True, check=True).stdout
    pipe, got = collect("compress")
    feed_in(pipe, dot_z, 1000)
    assert b"".join(d for d, _, _, _ in got) == FASTQ and got[0][1] == ("content-encoding:lzw",)


def test_gap_stops_the_codings_but_not_the_sink() -> None:
    pipe, got = collect()
    pipe.feed(b"abc")
    pipe.gap(10)
    pipe.feed(b"def")
    pipe.end()
    assert [(d, o) for d, _, _, o in got] == [(b"abc", 0), (b"def", 13)]
    pipe, got = collect("gzip")
    pipe.feed(gzip.compress(FASTQ)[:100])
    pipe.gap(10)
    pipe.end()
    assert pipe.errors == ["gzip: gap of 10 bytes in the stream"]


# --------------------------------------------------------------------------- sinks


def test_plain_sink_emits_pieces_with_body_offsets() -> None:
    got: list = []
    sink = PlainSink(lambda d, s, m, o: got.append((d, m, o)), piece=1000)
    for i in range(0, 3500, 300):
        sink.feed(FASTQ[i : min(i + 300, 3500)])
    sink.end()
    assert [(len(d), m, o) for d, m, o in got] == [
        (1000, {"piece": 0}, 0), (1000, {"piece": 1}, 1000), (1000, {"piece": 2}, 2000), (500, {"piece": 3}, 3000)]
    assert b"".join(d for d, _, _ in got) == FASTQ[:3500]


def test_sink_follows_the_content_type() -> None:
    def emit(*_: object) -> None:
        return None

    assert type(make_sink('multipart/form-data; boundary="b"', emit)).__name__ == "MultipartSplitter"
    assert type(make_sink("application/grpc+proto", emit)).__name__ == "GrpcMessages"
    assert type(make_sink("application/grpc-web-text", emit)).__name__ == "PlainSink"
    assert type(make_sink("text/plain", emit)).__name__ == "PlainSink"


def test_grpc_body_through_the_pipe() -> None:
    msgs = [b"first message", gzip.compress(b"second, compressed")]
    body = b"".join(struct.pack(">BI", i, len(m)) + m for i, m in enumerate(msgs))
    pipe, got = collect(content_type="application/grpc", grpc_encoding="gzip")
    feed_in(pipe, body, 3)
    assert [(d, s, o) for d, s, _, o in got] == [
        (b"first message", ("grpc",), 5), (b"second, compressed", ("grpc", "grpc-encoding:gzip"), 23)]


# --------------------------------------------------------------------------- bombs behind real data

SECRET = random.Random(7).randbytes(32 * 1024)  # stands for run data an instrument might hide


@functools.cache
def bomb_after_secret(coding: str, zeros_mib: int) -> bytes:
    """SECRET then a run of zeros, compressed as ONE stream/frame (no boundary to split on)."""
    zeros = bytes(1 << 20)
    if coding == "zstd":
        z = zstandard.ZstdCompressor().compressobj()
        return z.compress(SECRET) + b"".join(z.compress(zeros) for _ in range(zeros_mib)) + z.flush()
    if coding == "br":
        b = brotli.Compressor(quality=1)
        return b.process(SECRET) + b"".join(b.process(zeros) for _ in range(zeros_mib)) + b.finish()
    wbits = {"gzip": 31, "deflate": 15, "deflate-raw": -15}[coding]
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return c.compress(SECRET) + b"".join(c.compress(zeros) for _ in range(zeros_mib)) + c.flush()


def run_bomb(coding: str, bomb: bytes, step: int) -> tuple[BodyPipe, list, int, float]:
    """Feed a bomb through a BodyPipe; returns the pipe, what it emitted, peak memory, seconds."""
    pipe, got = collect(coding.removesuffix("-raw"))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        feed_in(pipe, bomb, step)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return pipe, got, peak, seconds


def check_bomb_output(coding: str, bomb: bytes, pipe: BodyPipe, got: list, ratio: int) -> bytes:
    """The secret decoded, the limit noted, then the compressed rest raw; never the whole bomb."""
    data = b"".join(d for d, _, _, _ in got)
    limit = allowance(len(bomb))
    note = f"{coding.removesuffix('-raw')}: limit: expansion ratio {ratio}x reached"
    meta = got[-1][2]
    assert pipe.errors == [note] and meta["decode_errors"] == [note]
    assert data.startswith(SECRET)  # decoded before the limit: kept
    raw_from = meta["raw_from"]
    assert len(SECRET) < raw_from < len(data) and not data[len(SECRET) : raw_from].strip(b"\0")
    assert bomb.endswith(data[raw_from:])  # after the limit: the compressed input, raw, to the end
    assert len(data) <= limit + DECODE_STEP + len(bomb)
    assert got[-1][1] == ()  # a piece that ends raw does not claim the coding
    return data


@pytest.mark.parametrize("step", [4096, 10**9])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "deflate-raw", "br", "zstd"])
def test_bomb_behind_real_data_keeps_the_data_and_stays_bounded(
        coding: str, step: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ratio 100x so that deflate (at most ~1030x) can be a bomb too; 64 MiB of zeros inside."""
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", TIGHT)
    bomb = bomb_after_secret(coding, 64)
    pipe, got, peak, seconds = run_bomb(coding, bomb, step)
    check_bomb_output(coding, bomb, pipe, got, 100)
    bound = 3 * allowance(len(bomb)) + 2 * DECODE_STEP
    assert bound < 64 << 20 and peak < bound  # a few times the limit, never the 64 MiB
    assert seconds < 5


@pytest.mark.parametrize("coding", ["zstd", "br"])
def test_200_mib_bomb_in_one_frame_at_the_real_ratio(coding: str) -> None:
    """The reported case: 32 KiB of data + 200 MiB of zeros in one frame, fed 4 KiB at a time."""
    bomb = bomb_after_secret(coding, 200)
    pipe, got, peak, seconds = run_bomb(coding, bomb, 4096)
    data = check_bomb_output(coding, bomb, pipe, got, limits.DEFAULT_LIMITS.max_ratio)
    assert data.endswith(bomb[-4096:])
    limit = allowance(len(bomb))
    assert limit < 100 * 1024 * 1024 and peak < 3 * limit and seconds < 10


def test_inner_coding_stopped_keeps_the_outer_label(monkeypatch: pytest.MonkeyPatch) -> None:
    """gzip applied first, zstd last: zstd decodes whole, gzip stops; its rest is gzip bytes."""
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", TIGHT)
    inner = bomb_after_secret("gzip", 64)
    pipe, got = collect("gzip, zstd")
    feed_in(pipe, zstandard.ZstdCompressor().compress(inner), 4096)
    data = b"".join(d for d, _, _, _ in got)
    (_, suffix, meta, _), *_ = got
    assert suffix == ("content-encoding:zstd",)
    assert meta["decode_errors"] == pipe.errors == ["gzip: limit: expansion ratio 100x reached"]
    assert data.startswith(SECRET) and inner.endswith(data[meta["raw_from"] :])


def test_outer_coding_stopped_claims_no_coding() -> None:
    """zstd (outer) fails on garbage after its frame: nothing after it is gzip-decoded."""
    frame = zstandard.ZstdCompressor().compress(gzip.compress(FASTQ))
    pipe, got = collect("gzip, zstd")
    feed_in(pipe, frame + b"garbage, not a zstd frame", 1000)
    data = b"".join(d for d, _, _, _ in got)
    assert data.startswith(FASTQ) and data.endswith(b"garbage, not a zstd frame")
    assert all(s == () for _, s, _, _ in got) and pipe.errors[0].startswith("zstd: ")
    assert got[-1][2]["raw_from"] == len(FASTQ)


def test_truncated_zstd_passes_the_block_it_held_raw() -> None:
    """A partial zstd block never decodes: its compressed bytes must not vanish."""
    frame = zstandard.ZstdCompressor().compress(FASTQ * 4)
    cut = frame[:-200]
    pipe, got = collect("zstd")
    feed_in(pipe, cut, 4096)
    data = b"".join(d for d, _, _, _ in got)
    raw_from = got[-1][2]["raw_from"]
    assert raw_from and (FASTQ * 4).startswith(data[:raw_from]) and cut.endswith(data[raw_from:])
    assert len(data) - raw_from >= min(len(cut), 100_000)
    assert pipe.errors == ["zstd: stream truncated"]


def test_codings_per_body_are_capped() -> None:
    pipe, _ = collect(", ".join(["gzip"] * 1000))
    assert len(pipe.codings) == httpbody.MAX_CODINGS


def test_limits_name_the_coding_its_place_and_what_it_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", TIGHT)
    inner = bomb_after_secret("gzip", 64)
    pipe, _ = collect("gzip, zstd")
    feed_in(pipe, zstandard.ZstdCompressor().compress(inner), 4096)
    (hit,) = pipe.limits
    assert (hit.limit, hit.decoder, hit.chain) == ("expansion ratio 100x", "content-encoding:gzip",
                                                   ("content-encoding:zstd",))
    assert 0 < hit.bytes_left < len(inner)
    pipe, _ = collect("gzip")
    feed_in(pipe, gzip.compress(FASTQ), 4096)
    assert pipe.limits == []


def test_a_gzip_coding_s_long_extra_field_goes_on_beside_the_body() -> None:
    """Content-Encoding: gzip whose member carries a gzip of reads in its extra field: the body decoded,
    the field was read by nobody."""
    hidden = gzip.compress(FASTQ[:4000])
    extra = b"XY" + struct.pack("<H", len(hidden)) + hidden
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = (b"\x1f\x8b\x08\x04\0\0\0\0\0\xff" + struct.pack("<H", len(extra)) + extra
            + deflate.compress(b'{"ok": true}') + deflate.flush() + struct.pack("<II", zlib.crc32(b'{"ok": true}'), 12))
    for step in (1, 5, len(body)):
        pipe, got = collect("gzip", "application/json")
        feed_in(pipe, body, step)
        assert [(d, s) for d, s, _, _ in got] == [(b'{"ok": true}', ("content-encoding:gzip",)),
                                                   (extra, ("content-encoding:gzip", "gzip extra field"))]


@pytest.mark.parametrize("step", [1, 1460, 1 << 20])
def test_an_extension_past_a_size_line_s_limit_is_streamed_beside_the_body(step: int) -> None:
    """A chunk's size line of 4 KiB or more made the framing fail and its bytes were dropped; a size and
    an extension are read on (the extension beside the body), and a line that is no size keeps its bytes."""
    ext = b"sig=" + bytes(range(65, 91)) * 400
    wire = b"f;" + ext + b"\r\n" + b'{"status":"ok"}' + b"\r\n0\r\n\r\n"
    d = ChunkedDecoder()
    out = []
    for i in range(0, len(wire), step):
        out += d.feed(wire[i:i + step])[0]
    assert b"".join(out) == b'{"status":"ok"}' and d.done and bytes(d.side) == ext + b"\n"
    bad = ChunkedDecoder()
    with pytest.raises(CodingError):
        for i in range(0, 9000, 1460):
            bad.feed((b"zz" + b"q" * 9000)[i:i + 1460])
    assert bytes(bad.side).startswith(b"zzqqq")
