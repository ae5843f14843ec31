"""zlib: the header check that stands in for a magic number."""

from __future__ import annotations

import os
import random
import struct
import zlib

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.zlib import ZlibDecoder, dictionary_start

CHAIN = ("tcp",)
READS = b"".join(b"@r%d\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" % i for i in range(3000))


def test_zlib_header_check():
    for level in (1, 6, 9):
        assert ZlibDecoder.sniff(zlib.compress(READS, level))
    assert not ZlibDecoder.sniff(b"x\x00\x00")  # 0x7800 is not a multiple of 31
    assert not ZlibDecoder.sniff(b"\x78\xbb\x00")  # preset dictionary flag


def test_streams_after_a_header_and_in_chunks():
    """A vendor's bundle (a header of its own, then zlib) and chunks each after their length (Java's
    Deflater, .NET's ZLibStream): found inside the view, each a view of its own."""
    rng = random.Random(15)
    text = "".join(f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(150))}\n" for i in range(300)).encode()
    bundle = b"VNDR" + struct.pack("<IIQQ", 2, len(text), 7, 0) + zlib.compress(text)
    views = {v.chain[-1]: v.data for v in expand(bundle, ("tcp",)).views}
    assert views["zlib@28"] == text
    pieces = [text[i: i + 8192] for i in range(0, len(text), 8192)]
    chunked = b"".join(struct.pack("<I", len(c)) + c for c in map(zlib.compress, pieces))
    got = [v.data for v in expand(chunked, ("tcp",)).views if v.chain[-1].startswith("zlib@")]
    assert got == pieces


def test_chance_headers_in_random_bytes_are_not_taken():
    data = os.urandom(1 << 20)
    data = data[:5000] + b"\x78\x9c" + data[5000:]  # one more, for sure
    assert not [v for v in expand(data, ("tcp",)).views if v.chain[-1].startswith("zlib")]


def test_a_view_full_of_chance_headers_is_a_limit_not_a_cpu_sink():
    """A header every four bytes: each costs a trial inflate, so past a few a KiB the rest is left
    and said (a limit hit), not tried for seconds, nor dropped in silence."""
    data = (b"x\x9c\x00\x01") * 2_000_000 + zlib.compress(b"ACGT" * 50_000)
    exp = expand(data, ("tcp",))
    (hit,) = [h for h in exp.limits if h.decoder == "zlib"]
    assert hit.limit == "256 + 1 zlib candidates a KiB" and hit.bytes_left > 7_000_000


def _with_dictionary(data: bytes, zdict: bytes, wbits: int = 15) -> bytes:
    c = zlib.compressobj(wbits=wbits, zdict=zdict)
    return c.compress(data) + c.flush()


TEXT = "".join(f"@r{i}\n{''.join(random.Random(i).choice('ACGT') for _ in range(150))}\n" for i in range(200)).encode()


def test_a_stream_with_a_preset_dictionary_is_read_with_zeros_for_it_and_said():
    """A dictionary it never copies from: the data whole; one it copies from: the data with those copies
    zeros; either way said not read, for the stream's length."""
    for zdict, whole in ((os.urandom(32768), True), (TEXT[-3000:], False)):
        stream = _with_dictionary(TEXT, zdict)
        [(label, out)] = ZlibDecoder.decode(stream, budget := Budget(1 << 30, "test"))
        assert label == "zlib (preset dictionary)" and len(out) == len(TEXT)
        assert out == TEXT if whole else all(o in (t, 0) for o, t in zip(out, TEXT, strict=True)) and out != TEXT
        [(what, size)] = budget.unread
        assert "preset dictionary the rig does not have" in what and size == len(stream) - 10   # (header, Adler-32)


@pytest.mark.parametrize("header", [2, 4, 8, 16])
def test_a_stream_with_a_preset_dictionary_after_a_header_of_the_sender_s_own(header):
    body = os.urandom(header) + _with_dictionary(TEXT, os.urandom(4096))
    views = {v.chain[-1]: v.data for v in expand(body, ("tcp",)).views}
    assert views[f"zlib (preset dictionary)@{header}"] == TEXT


def test_random_bytes_are_not_taken_for_a_stream_with_a_preset_dictionary():
    rng = random.Random(21)
    assert not any(dictionary_start(rng.randbytes(rng.choice((600, 2048, 8192)))) >= 0 for _ in range(30000))


def test_streams_after_one_with_a_preset_dictionary_are_read_too():
    """(A stream with a dictionary at the view's start stopped the search for the streams after it.)"""
    first = _with_dictionary(os.urandom(20000), os.urandom(4096))
    views = {v.chain[-1]: v.data for v in expand(first + zlib.compress(TEXT), ("tcp",)).views}
    assert views[f"zlib@{len(first)}"] == TEXT
