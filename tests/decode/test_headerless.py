"""Compressed streams with their magic or header cut off, or written raw: each is read with it put
back, and random bytes, stored blocks and text are left alone."""

from __future__ import annotations

import bz2
import lzma
import random

import lz4.frame
import pytest
import zstandard

from sandbox.decode import Budget, expand
from sandbox.decode.headerless import HeaderlessDecoder, _bz2_block, _found
from tests.decode.test_conformance import SAMPLE, _reads

CHAIN = ("tcp", "test")


def _magicless_zstd(data: bytes, level: int = 3) -> bytes:
    params = zstandard.ZstdCompressionParameters.from_level(level, format=zstandard.FORMAT_ZSTD1_MAGICLESS)
    return zstandard.ZstdCompressor(compression_params=params).compress(data)


WAYS = {
    "LZMA2 without a container": lambda d: lzma.compress(d, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}]),
    "LZMA without a container": lambda d: lzma.compress(d, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}]),
    "LZMA-alone's header cut": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)[13:],
    "xz's stream header cut (CRC64)": lambda d: lzma.compress(d)[12:],
    "xz's stream header cut (CRC32)": lambda d: lzma.compress(d, check=lzma.CHECK_CRC32)[12:],
    "xz's stream header cut (SHA-256)": lambda d: lzma.compress(d, check=lzma.CHECK_SHA256)[12:],
    "xz's stream header cut (no check)": lambda d: lzma.compress(d, check=lzma.CHECK_NONE)[12:],
    "bzip2's header cut": lambda d: bz2.compress(d)[4:],
    "bzip2's header and block magic cut": lambda d: bz2.compress(d)[10:],
    "bzip2 level 1, both cut": lambda d: bz2.compress(d, 1)[10:],
    "zstd's magic cut": lambda d: zstandard.compress(d)[4:],
    "zstd magicless": _magicless_zstd,
    "zstd magicless, level 19": lambda d: _magicless_zstd(d, 19),
    "LZ4's magic cut": lambda d: lz4.frame.compress(d)[4:],
    "LZ4's magic cut, content size, 4 MiB blocks": lambda d: lz4.frame.compress(
        d, block_size=lz4.frame.BLOCKSIZE_MAX4MB, store_size=True)[4:],
    "LZ4's magic cut, no content size, 256 KiB blocks": lambda d: lz4.frame.compress(
        d, block_size=lz4.frame.BLOCKSIZE_MAX256KB, store_size=False)[4:],
}


@pytest.mark.parametrize("name", WAYS)
def test_each_way_is_read_whole(name):
    data = WAYS[name](SAMPLE)
    assert HeaderlessDecoder.sniff(data), name
    views = {v.chain[-1]: v.data for v in expand(data, CHAIN).views}
    assert SAMPLE in views.values(), list(views)
    assert any(label.startswith("headerless: ") for label in views)


@pytest.mark.parametrize("name", [n for n in WAYS if "4 MiB" not in n])   # (no block whole short of 4 MiB)
def test_a_stream_cut_short_gives_what_it_holds(name):
    """What a cut stream's whole blocks hold (bzip2's of 100-900 kB and LZ4's of 256 KiB: two whole in
    60% of 3 MB of reads)."""
    whole = _reads(12000 if "bzip2" in name or "KiB" in name else 1200, seed=3)
    data = WAYS[name](whole)
    got = list(HeaderlessDecoder.decode(data[:len(data) * 6 // 10], Budget(1 << 26, "test")))
    assert got and all(whole.startswith(view) for _, view in got), name
    assert got[0][0].endswith("(truncated)")


def test_a_bzip2_block_header_is_read_to_its_tables():
    rng = random.Random(1)
    for content in (SAMPLE, rng.randbytes(200_000), bytes(range(256)) * 1000, b"A" * 5000):
        for level in (1, 9):
            assert _bz2_block(bz2.compress(content, level)[10:])
    assert not any(_bz2_block(rng.randbytes(4096)) for _ in range(20000))


def test_what_is_none_is_left_alone():
    rng = random.Random(2)
    assert not any(_found(rng.randbytes(rng.choice((32, 100, 4096, 65536)))) for _ in range(20000))
    prose = b"The sequencer uploads its run metrics to the vendor portal every night.\n" * 40
    assert _found(prose) is None and _found(SAMPLE) is None
    stored = zstandard.ZstdCompressor(level=1).compress(rng.randbytes(50_000))[4:]     # a raw block: the bytes
    assert _found(stored) is None
    assert _found(b"1AY&SY" + rng.randbytes(4000)) is not None       # a block magic is reason enough to try ...
    assert list(HeaderlessDecoder.decode(b"1AY&SY" + rng.randbytes(4000), Budget(1 << 26, "test"))) == []   # ... no view
