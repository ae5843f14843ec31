"""The one codec layer: every format streamed in any chunking equals the whole-buffer decode;
allowances stop bombs exactly and hand the rest back raw; bad headers and trailing bytes."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import brotli
import cramjam
import lz4.frame
import pytest
import zstandard

from sandbox.decode import limits
from sandbox.decode.codec import CHUNK, FORMATS, Allowance, decompress, make_codec
from sandbox.decode.limits import Limits, MiB

TEXT = b"".join(b"@read%d\nACGTACGTTTGACCA%d\n+\nFFFFFFFFFFFFFFFF\n" % (i, i % 10) for i in range(8000))


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _deflate64(data: bytes) -> bytes:
    """A raw Deflate64 stream, as 7-Zip writes one into a zip (the member's bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t").write_bytes(data)
        subprocess.run(["7zz", "a", "-bd", "-bso0", "-tzip", "-mm=Deflate64", "t.zip", "t"], cwd=tmp, check=True)
        archive = (Path(tmp) / "t.zip").read_bytes()
    size, _, nlen, xlen = struct.unpack_from("<IIHH", archive, 18)
    return archive[30 + nlen + xlen: 30 + nlen + xlen + size]


def _compress(data: bytes) -> bytes:
    """compress(1)'s .Z (Debian's ncompress)."""
    return subprocess.run(["compress", "-c"], input=data, capture_output=True, check=True).stdout


ENCODED = {
    "gzip": gzip.compress(TEXT[:100_000]) + gzip.compress(TEXT[100_000:]),  # two members
    "zlib": zlib.compress(TEXT),
    "deflate": _raw_deflate(TEXT),
    "http-deflate": zlib.compress(TEXT),
    "brotli": brotli.compress(TEXT),
    "br": brotli.compress(TEXT),
    "zstd": zstandard.compress(TEXT[:5000]) + zstandard.compress(TEXT[5000:]),  # two frames
    "bz2": bz2.compress(TEXT[:1000]) + bz2.compress(TEXT[1000:]),  # two streams
    "xz": lzma.compress(TEXT),
    "lzma": lzma.compress(TEXT, format=lzma.FORMAT_ALONE),
    "lz4": lz4.frame.compress(TEXT[:7000]) + lz4.frame.compress(TEXT[7000:], block_linked=False),  # two frames
    "snappy": bytes(cramjam.snappy.compress(TEXT[:3000])) + bytes(cramjam.snappy.compress(TEXT[3000:])),
    "snappy-raw": bytes(cramjam.snappy.compress_raw(TEXT)),
    "deflate64": _deflate64(TEXT),
    "lzw": _compress(TEXT),
    "lzip": subprocess.run(["lzip", "-c", "-b", "100000"], input=TEXT, capture_output=True, check=True).stdout,  # members
}
# Deflate64's inflater says only that a stream ended, not where: its end is the slice that ended it.
END_WITHIN_A_SLICE = {"deflate64"}


def test_every_format_has_a_case():
    assert sorted(ENCODED) == sorted(FORMATS)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_whole_buffer(fmt):
    got = decompress(fmt, ENCODED[fmt], 1 << 30)
    assert (got.status, got.data) == ("ok", TEXT)
    if fmt in END_WITHIN_A_SLICE:
        assert len(ENCODED[fmt]) - CHUNK < got.end <= len(ENCODED[fmt])
    else:
        assert got.end == len(ENCODED[fmt])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("seed", [1, 2])
def test_streamed_in_random_chunks_equals_whole(fmt, seed):
    rng = random.Random(seed)
    data = ENCODED[fmt]
    codec = FORMATS[fmt](None)
    out, at = [], 0
    while at < len(data):
        n = rng.choice([1, 2, 3, 7, 100, 4096, 70_000])
        out.append(codec.feed(data[at : at + n]))
        at += n
    out.append(codec.end())
    assert b"".join(out) == TEXT and not codec.failed and not codec.note


# a raw snappy block decodes whole or not; LZW has no end marker (its cut is its end)
@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"snappy-raw", "lzw"}))
def test_cut_stream_is_truncated_and_keeps_a_prefix(fmt):
    got = decompress(fmt, ENCODED[fmt][: len(ENCODED[fmt]) * 2 // 3], 1 << 30)
    assert got.status == "truncated" and TEXT.startswith(got.data)


@pytest.mark.parametrize("fmt", ["gzip", "zlib", "zstd", "bz2", "xz", "lz4", "snappy"])
def test_trailing_bytes_end_the_stream(fmt):
    """Whole buffer: the stream ends where it ends.  Streamed: the rest is handed back raw."""
    data = ENCODED[fmt] + b"trailing bytes that start no stream"
    got = decompress(fmt, data, 1 << 30)
    assert got.status == "ok" and got.data == TEXT and got.end == len(ENCODED[fmt])
    codec = FORMATS[fmt](None)
    decoded, raw = codec.feed_split(data)
    assert decoded == TEXT and raw == b"trailing bytes that start no stream"
    assert codec.status == "trailing" and codec.failed.startswith(f"{codec.name}: ")


def test_zero_padding_after_members_is_no_trailing_data():
    codec = make_codec("gzip")
    assert codec.feed(ENCODED["gzip"]) + codec.feed(bytes(100)) + codec.end() == TEXT
    assert not codec.failed


def test_a_bad_header_hands_everything_back_at_once():
    """ISA-L reports a bad gzip header only bytes later: the header is checked first, so no byte
    of a body that is not gzip is swallowed."""
    codec = make_codec("gzip")
    out = b"".join(codec.feed(b"not gzip at all"[i : i + 4]) for i in range(0, 15, 4)) + codec.end()
    assert out == b"not gzip at all" and codec.status == "corrupt"


@pytest.mark.parametrize("fmt", ["gzip", "zlib", "deflate", "brotli", "zstd", "bz2", "xz", "lz4", "snappy",
                                 "deflate64", "lzw", "lzip"])
def test_fixed_cap_is_exact_and_says_what_it_left(fmt):
    got = decompress(fmt, ENCODED[fmt], 50_000, "test cap")
    assert got.status == "limit" and got.data == TEXT[:50_000] and got.hit == "test cap"
    # what the decompressor surely took is not counted as left; buffered ones (brotli, xz) took it all
    assert 0 < got.left <= len(ENCODED[fmt])


def test_streaming_allowance_is_the_ratio_over_what_was_fed(monkeypatch):
    monkeypatch.setattr(limits, "DEFAULT_LIMITS", Limits(ratio_floor=1 * MiB))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = comp.compress(b"real data first " * 100) + comp.compress(bytes(64 * MiB)) + comp.flush()
    codec = make_codec("gzip")
    decoded, raw = [], []
    for at in range(0, len(bomb), 4096):
        d, r = codec.feed_split(bomb[at : at + 4096])
        decoded.append(d)
        raw.append(r)
    out = b"".join(decoded)
    assert out.startswith(b"real data first ") and len(out) == codec.produced
    assert codec.produced <= Limits(ratio_floor=1 * MiB).ratio_allowance(codec.fed)
    assert codec.status == "limit" and codec.hit == "expansion ratio 100x"
    assert codec.failed == "gzip: limit: expansion ratio 100x reached"
    rest = b"".join(raw)
    assert bomb.endswith(rest) and codec.rest_bytes == len(rest) > 0


def test_allowance_names_the_binding_limit():
    both = Allowance(Limits(), cap=5 * MiB, cap_why="total output 256 MiB")
    assert both.allowed(10) == 5 * MiB and both.why(10) == "total output 256 MiB"
    assert Allowance(Limits()).why(10) == "expansion ratio 100x"
    assert Allowance(cap=7).allowed(1 << 40) == 7


def test_http_tokens():
    assert make_codec("x-gzip").name == "gzip" and make_codec("DEFLATE").name == "deflate"
    assert make_codec("br").name == "br" and make_codec("zstd").name == "zstd"
    assert make_codec("compress").name == "lzw" and make_codec("x-compress").name == "lzw"
    assert make_codec("identity") is None and make_codec("exi") is None
    raw = make_codec("deflate")
    assert raw.feed(ENCODED["deflate"]) + raw.end() == TEXT  # HTTP "deflate" sent raw, as some servers do
    snappy = make_codec("snappy")  # Prometheus remote write, Loki push: one raw block
    assert snappy.feed(ENCODED["snappy-raw"]) + snappy.end() == TEXT


def test_a_body_that_is_no_snappy_block_goes_on_raw():
    codec = make_codec("snappy")
    assert codec.feed(b"plain text, no block") + codec.end() == b"plain text, no block"
    assert codec.status == "corrupt"


def test_xerial_snappy_blocks():
    """snappy-java's framing (Kafka, Hadoop, Spark): a header, then blocks after big-endian lengths."""
    blocks = [bytes(cramjam.snappy.compress_raw(TEXT[i: i + 32768])) for i in range(0, len(TEXT), 32768)]
    data = b"\x82SNAPPY\x00" + (1).to_bytes(4, "big") * 2 + b"".join(len(b).to_bytes(4, "big") + b for b in blocks)
    assert decompress("snappy", data, 1 << 30).data == TEXT
    got = decompress("snappy", data[: len(data) // 2], 1 << 30)
    assert got.status == "truncated" and TEXT.startswith(got.data) and len(got.data) > len(TEXT) // 3


def test_a_snappy_block_declaring_more_than_its_length_can_hold_is_refused():
    """No block expands past 22x: a declared size beyond it allocates nothing."""
    lie = bytes([0x80, 0x80, 0x80, 0x80, 0x0F]) + bytes(100)  # 4 GiB declared
    codec = make_codec("snappy")
    assert codec.feed(lie) + codec.end() == lie and codec.status == "corrupt"


def test_restart_counts_gives_each_message_its_own_ratio():
    codec = FORMATS["deflate"](Allowance(Limits(ratio_floor=0, max_ratio=2)))
    with_context = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = with_context.compress(b"abc" * 10) + with_context.flush(zlib.Z_SYNC_FLUSH)
    assert codec.feed(first) == b"abc" * 10 or codec.status == "limit"
    codec2 = FORMATS["deflate"](Allowance(Limits(ratio_floor=1000)))
    assert codec2.feed(first) == b"abc" * 10
    codec2.restart_counts()
    assert codec2.fed == codec2.produced == 0
