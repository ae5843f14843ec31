"""Text with random filler between its bytes read out: every stride and set of text phases; nothing
made of text, random bytes, UTF-16 or wide integers."""

from __future__ import annotations

import gzip
import os
import random
import struct

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.strided import MAX_STRIDE, MIN_VIEW, StridedDecoder, text_phases
from tests.decode.test_xor import fastq

TEXT = fastq(60)


def chaffed(text: bytes, stride: int, phases: tuple[int, ...], seed: int = 1) -> bytes:
    rng = random.Random(seed)
    it, out = iter(text), bytearray()
    while True:
        for p in range(stride):
            if p in phases:
                b = next(it, None)
                if b is None:
                    return bytes(out)
                out.append(b)
            else:
                out.append(rng.randrange(256))


def _read(data: bytes) -> list[tuple[str, bytes]]:
    return list(StridedDecoder.decode(data, Budget(1 << 30, "test"))) if StridedDecoder.sniff(data) else []


@pytest.mark.parametrize(("stride", "phases"), [(2, (0,)), (2, (1,)), (3, (0, 2)), (3, (1,)), (4, (0, 1, 2)),
                                                (5, (2, 4)), (8, (0,)), (8, (1, 2, 3, 4, 5, 6, 7))])
def test_text_between_filler_is_read_out(stride, phases):
    data = chaffed(TEXT, stride, phases)
    [(label, out)] = _read(data)
    assert label == f"strided ({stride}, {'+'.join(map(str, phases))})"
    assert out.startswith(TEXT[:len(out) - stride]) and len(out) >= len(TEXT) - stride


def test_reads_between_filler_are_reached_through_the_registry():
    data = chaffed(gzip.decompress(gzip.compress(TEXT)), 2, (1,))
    assert any(v.chain[-1] == "strided (2, 1)" and v.data.startswith(TEXT[:1000]) for v in expand(data, ("t",)).views)


BENIGN = {
    "text": TEXT,
    "random": os.urandom(1 << 16),
    "gzip": gzip.compress(TEXT),
    "utf-16": TEXT.decode().encode("utf-16-le"),
    "int32 little-endian": b"".join(struct.pack("<I", 65 + i % 26) for i in range(5000)),
    "short": chaffed(TEXT, 2, (0,))[:MIN_VIEW - 1],
    "filler wider than the stride": chaffed(TEXT, MAX_STRIDE + 1, (0,)),
}


@pytest.mark.parametrize("name", BENIGN)
def test_bytes_without_text_between_filler_give_no_view(name):
    assert text_phases(BENIGN[name]) is None
    assert not any(v.chain[-1].startswith("strided") for v in expand(BENIGN[name], ("t",)).views)


def test_a_stream_between_filler_is_read_out_every_way():
    """Each run of phases of each stride, a gzip's, a bzip2's or a zstd's bytes there and filler at the
    others: the stream's bytes, in their order."""
    import bz2

    import zstandard

    from sandbox.decode.strided import _STREAM_WAYS, stream_phases

    for stream in (gzip.compress(TEXT, mtime=0), bz2.compress(TEXT), zstandard.compress(TEXT)):
        for stride, phases in _STREAM_WAYS:
            data = chaffed(stream, stride, phases, seed=stride)
            assert stream_phases(data) == (stride, phases), (stride, phases)
            [(label, out)] = StridedDecoder.decode(data, Budget(1 << 26, "t"))
            assert out == stream and label == f"strided ({stride}, {'+'.join(map(str, phases))})"


def test_a_stream_xored_between_filler_reaches_the_reads():
    stream = bytes(b ^ 0x5A for b in gzip.compress(TEXT, mtime=0))
    for stride in (2, 3, 4):
        views = expand(chaffed(stream, stride, (0,)), ("t",)).views
        assert any(v.data == TEXT and v.chain[-2:] == ("disguised: xor 0x5a", "gzip") for v in views), stride


def test_random_bytes_and_streams_as_they_are_are_seldom_taken_for_a_stream_between_filler():
    from sandbox.decode.strided import stream_phases

    rng = random.Random(12)
    assert sum(stream_phases(rng.randbytes(4096)) is not None for _ in range(20000)) <= 3
    assert stream_phases(gzip.compress(TEXT)) is None            # opens as it is: the gzip decoder's
