"""Compressed streams with their magic or header cut off, or written raw: each is read with it put
back, and random bytes, stored blocks and text are left alone."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random

import lz4.frame
import pytest
import zstandard

from sandbox.decode import Budget, expand
from sandbox.decode.headerless import HeaderlessDecoder, _found, bz2_block
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
            assert bz2_block(bz2.compress(content, level)[10:])
    assert not any(bz2_block(rng.randbytes(4096)) for _ in range(20000))


def test_what_is_none_is_left_alone():
    rng = random.Random(2)
    assert not any(_found(rng.randbytes(rng.choice((32, 100, 4096, 65536)))) for _ in range(20000))
    prose = b"The sequencer uploads its run metrics to the vendor portal every night.\n" * 40
    assert _found(prose) is None and _found(SAMPLE) is None
    assert _found(gzip.compress(bytes(8 << 20))) is None      # zeros after its header read as LZMA2 make zeros
    zstd_whole = b"PAR1" + bytes(18) + zstandard.compress(SAMPLE)     # a page's frame, its magic before it
    assert _found(zstd_whole) is None
    stored = zstandard.ZstdCompressor(level=1).compress(rng.randbytes(50_000))[4:]     # a raw block: the bytes
    assert _found(stored) is None
    assert _found(b"1AY&SY" + rng.randbytes(4000)) is not None       # a block magic is reason enough to try ...
    assert list(HeaderlessDecoder.decode(b"1AY&SY" + rng.randbytes(4000), Budget(1 << 26, "test"))) == []   # ... no view


AFTER_A_HEADER = ["LZMA2 without a container", "xz's stream header cut (CRC64)", "bzip2's header cut",
                  "zstd's magic cut", "zstd magicless", "LZ4's magic cut"]


@pytest.mark.parametrize("name", AFTER_A_HEADER)
@pytest.mark.parametrize("offset", [1, 8, 33, 64])
def test_a_stream_past_a_header_of_the_sender_s_own_is_read(name, offset):
    data = random.Random(offset).randbytes(offset) + WAYS[name](SAMPLE)
    [(label, view)] = HeaderlessDecoder.decode(data, Budget(1 << 26, "test"))
    assert view == SAMPLE and label.endswith(f", from byte {offset}"), label


def test_where_a_stream_may_begin_is_what_the_checks_say():
    """``_kernels.headerless_starts`` against the same checks written in Python, on random bytes and
    on streams behind headers."""
    import numpy as np

    from sandbox.index import _kernels

    def oracle(d: bytes) -> bool:
        a, b = d[0], d[1]
        if d[:6] == b"1AY&SY" or a and not b & 0x3C and (d[2] == 0x21 or 3 <= d[2] <= 0x0B):
            return True
        if a >> 6 == 1 and not a & 2 and not b & 0x8F and b >> 4 >= 4:
            return True
        if not a & 0x1B:
            at = 1 + (0 if a & 0x20 else 1) + ((0, 2, 4, 8)[a >> 6] or (1 if a & 0x20 else 0))
            block = int.from_bytes(d[at:at + 3], "little")
            if block >> 1 & 3 == 2 and block >> 3 <= 128 << 10 and (a & 0x20 or b >> 3 <= 21):
                return True
        p = d[5]
        return a >= 0xE0 and p < 225 and p % 9 + p // 9 % 5 <= 4 and p // 45 <= 4 and d[6] == 0

    rng = random.Random(9)
    cases = [rng.randbytes(200) for _ in range(300)] + [rng.randbytes(n) + WAYS[w](SAMPLE)[:100]
                                                        for n in (0, 5, 40) for w in AFTER_A_HEADER]
    for data in cases:
        out = np.empty(256, np.int64)
        got = out[:_kernels.headerless_starts(data, 0, 120, out)].tolist()
        assert got == [at for at in range(0, 121) if at + 16 <= len(data) and oracle(data[at:])]
