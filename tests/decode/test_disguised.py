"""Compressed streams and archives whose bytes were disguised, undone: every byte map, keys of two to
four bytes (of five to sixteen where a header writers write gives them), reversals; nothing made of
random bytes, text or streams as they are."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import os
import random
import zipfile
import zlib

import lz4.frame
import numpy as np
import pytest
import zstandard

from sandbox.decode import Budget, expand
from sandbox.decode.disguised import MAP_LABELS, DisguisedDecoder, disguise
from tests.decode.test_xor import fastq

TEXT = fastq(80)


def _zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("reads.fastq", data)
    return out.getvalue()


STREAMS = {"gzip": lambda d: gzip.compress(d, mtime=0), "zlib": zlib.compress, "bz2": bz2.compress,
           "xz": lzma.compress, "zstd": zstandard.compress, "lz4": lz4.frame.compress, "zip": _zip}


def _keyed(data: bytes, key: bytes) -> bytes:
    return (np.frombuffer(data, np.uint8) ^ np.resize(np.frombuffer(key, np.uint8), len(data))).tobytes()


def _undone(data: bytes) -> tuple[str, bytes] | None:
    if not DisguisedDecoder.sniff(data):
        return None
    [found] = DisguisedDecoder.decode(data, Budget(1 << 30, "test"))
    return found


def _forward(label: str) -> np.ndarray:
    """The byte map a label names, as a sender applies it."""
    x = np.arange(256)
    if label.startswith("xor"):
        forward = x ^ int(label[4:], 16)
    elif label.endswith("added"):
        forward = (x + int(label.split()[0])) % 256
    elif label.startswith("bits rotated"):
        r = int(label.split()[-1])
        forward = ((x << r) | (x >> (8 - r))) & 0xFF
    elif label == "bits reversed":
        forward = np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)])
    else:
        forward = ((x & 0x0F) << 4) | (x >> 4)
    return forward.astype(np.uint8)


@pytest.mark.parametrize("fmt", STREAMS)
def test_every_byte_map_is_undone(fmt):
    stream = STREAMS[fmt](TEXT)
    for label in MAP_LABELS:
        disguised = _forward(label)[np.frombuffer(stream, np.uint8)].tobytes()
        found = _undone(disguised)
        assert found is not None and found[1] == stream, (fmt, label)


@pytest.mark.parametrize("fmt", ["gzip", "bz2", "zstd", "xz"])
def test_every_byte_map_on_a_reversed_stream_is_undone(fmt):
    stream = STREAMS[fmt](TEXT)
    for label in MAP_LABELS:
        found = _undone(_forward(label)[np.frombuffer(stream[::-1], np.uint8)].tobytes())
        assert found is not None and found[1] == stream, (fmt, label)


@pytest.mark.parametrize("encode", [base64.b64encode, base64.encodebytes, base64.b32encode, bytes.hex])
def test_text_under_every_byte_map_is_undone(encode):
    """An encoding of a gzip, each byte then mapped: the map that makes it text, and of those the one
    that makes letters, digits and spaces."""
    text = encode(STREAMS["gzip"](TEXT))
    text = text.encode() if isinstance(text, str) else text
    for label in MAP_LABELS:
        mapped = _forward(label)[np.frombuffer(text, np.uint8)].tobytes()
        if mapped[:256].translate(None, bytes([9, 10, 13, *range(0x20, 0x7F)])) == b"":
            continue            # still text: the encoding's own decoders read it (a shift of a few letters)
        found = _undone(mapped)      # (a map two labels name, nibbles swapped and bits rotated by 4: either)
        assert found is not None, label
        assert found[1] == text or encode is bytes.hex and found[1].lower() == text, label    # hex: either case


@pytest.mark.parametrize(("fmt", "lengths"), [("gzip", (2, 3, 4)), ("zstd", (2,)), ("xz", (2, 3, 4)), ("bz2", (2,)),
                                              ("lz4", (2,)), ("zip", (2, 4))])
def test_short_keys_are_read_off_the_magic(fmt, lengths):
    stream = STREAMS[fmt](TEXT)
    for length in lengths:
        key = random.Random(length).randbytes(length)
        assert _undone(_keyed(stream, key)) == (f"disguised: xor key {key.hex()}", stream), (fmt, length)


def _gzip_named(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile("reads.fastq", "wb", fileobj=out, mtime=0) as g:
        g.write(data)
    return out.getvalue()


LONG_KEYED = {      # (the stream, the longest key its header gives)
    "gzip with no time": (gzip.compress(TEXT, mtime=0), 8),
    "gzip with a name and no time": (_gzip_named(TEXT), 8),
    "bzip2": (bz2.compress(TEXT), 8),
    "bzip2 of 500k blocks": (bz2.compress(TEXT, 5), 8),
    "xz": (lzma.compress(TEXT), 16),
    "xz with SHA-256": (lzma.compress(TEXT, check=lzma.CHECK_SHA256), 16),
    "xz with no check, preset 1": (lzma.compress(TEXT, preset=1, check=lzma.CHECK_NONE), 16),
    "zip": (_zip(TEXT), 8),
}


@pytest.mark.parametrize("name", LONG_KEYED)
def test_longer_keys_are_read_off_a_header_writers_write(name):
    """A key of five to eight bytes (xz: to sixteen): the header's fields that vary (bzip2's block
    size, xz's check type) are tried, the one that reads taken."""
    stream, longest = LONG_KEYED[name]
    for length in range(5, longest + 1):
        key = random.Random(length).randbytes(length)
        assert _undone(_keyed(stream, key)) == (f"disguised: xor key {key.hex()}", stream), (name, length)


def test_a_gzip_with_its_time_under_a_long_key_is_out_of_reach():
    """(The module docstring: a gzip's time is four bytes no writer makes known.)"""
    stream = gzip.compress(TEXT, mtime=1765000000)
    assert _undone(_keyed(stream, bytes(range(7, 15)))) is None


@pytest.mark.parametrize("fmt", ["gzip", "zstd", "bz2", "zip"])
def test_reversals_are_undone(fmt):
    stream = STREAMS[fmt](TEXT)
    assert _undone(stream[::-1]) == ("disguised: reversed", stream)
    for block in (2, 4, 8, 16):
        blocked = b"".join(stream[i:i + block][::-1] for i in range(0, len(stream), block))
        assert _undone(blocked) == (f"disguised: reversed in blocks of {block}", stream), block
    b64, hexed = base64.encodebytes(stream), stream.hex().encode()
    assert _undone(b64[::-1]) == ("disguised: base64 reversed", b64.replace(b"\n", b""))
    assert _undone(hexed[::-1]) == ("disguised: hex reversed", hexed)


@pytest.mark.parametrize("offset", [1, 8, 33, 64])
def test_a_byte_map_past_a_header_of_the_sender_s_own_is_undone(offset):
    stream = STREAMS["gzip"](TEXT)
    header = random.Random(offset).randbytes(offset)
    label, out = _undone(header + bytes(b ^ 0x42 for b in stream))
    assert label == f"disguised: xor 0x42 from byte {offset}" and out == stream


def test_the_reads_are_reached_through_the_registry():
    views = expand(bytes(b ^ 0xA5 for b in gzip.compress(TEXT)), ("t",)).views
    assert any(v.chain[1:] == ("disguised: xor 0xa5", "gzip") and v.data == TEXT for v in views)


def test_random_bytes_are_seldom_taken_for_a_disguise():
    """Two magic bytes left to check a key (zstd's with a two-byte key) pass once in 65,536 random
    views, and the view is then handed on for the decoders to refuse: no more than that."""
    rng = random.Random(11)
    found = [disguise(rng.randbytes(4096)) for _ in range(20000)]
    assert sum(f is not None for f in found) <= 2


BENIGN = {
    "text": TEXT,
    "16-bit samples": (np.sin(np.arange(30000) / 9) * 3000).astype("<i2").tobytes(),
    "a flat screenshot's pixels": bytes([250, 250, 250, 0, 0, 0, 30, 90, 200]) * 5000,
    "json of one letter": b'["' + b"A" * 60000 + b'"]',
    "random": os.urandom(1 << 16),
    **{f"{fmt} as it is": encode(TEXT) for fmt, encode in STREAMS.items()},
    "base64 of a gzip": base64.b64encode(gzip.compress(TEXT)),
    "bzip2 of zeros as it is": bz2.compress(bytes(1 << 20)),       # (another block size's key: one bit)
}


@pytest.mark.parametrize("name", BENIGN)
def test_streams_as_they_are_and_other_bytes_give_no_view(name):
    assert disguise(BENIGN[name]) is None
