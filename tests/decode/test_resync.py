"""Deflate read from inside a stream: block starts found at any bit, decoded with the window before them
unknown; random bytes start nothing."""

from __future__ import annotations

import bz2
import gzip
import random
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.decode import resync
from sandbox.decode.codec import Allowance
from sandbox.decode.limits import Limits
from sandbox.index import _kernels

RNG = random.Random(5)
TEXT = b"".join(b"@r%d 1:N:0:ACGT\n%s\n+\n%s\n" % (n, bytes(RNG.choice(b"ACGT") for _ in range(150)),
                                                     bytes(RNG.choice(range(33, 74)) for _ in range(150)))
                for n in range(3000))


def _agrees(made: bytes, text: bytes) -> float:
    """The share of ``made``'s last 20 kB known (not zero), after asserting each known byte is the
    text's at its place (both end where the stream does)."""
    n = min(20_000, len(made))
    tail, ref = made[-n:], text[-n:]
    assert all(a in (0, b) for a, b in zip(tail, ref, strict=True))
    return 1 - tail.count(0) / len(tail)


def _starts(data: bytes) -> list[int]:
    out = np.empty(1024, dtype=np.int64)
    count, _ = _kernels.deflate_dynamic_starts(data, 0, out)
    return out[:count].tolist()


def test_the_blocks_a_compressor_writes_are_found_at_their_bits():
    """zlib's blocks of a gzip of reads: each after the one before ends, none elsewhere."""
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = raw.compress(TEXT) + raw.flush()
    starts = _starts(stream)
    assert starts[0] == 0 and len(starts) >= 4          # 16,384 symbols a block
    for bit in starts:        # each one decodes to the stream's end from there, the window before it zeros
        codec = resync.ResyncCodec(bit)
        made, _ = codec.feed_split(stream)
        assert codec.status == "ok" and _agrees(made, TEXT) > 0.3     # (the last blocks: after the fewest bytes)


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_start_no_block(seed):
    assert _starts(random.Random(seed).randbytes(1 << 20)) == []
    assert resync.find(random.Random(seed).randbytes(1 << 18), 1 << 18) is None


@pytest.mark.parametrize("cut", [1, 9_999, 50_001, 120_000])
def test_a_gzip_cut_anywhere_is_read_from_its_next_block(cut):
    stream = gzip.compress(TEXT)
    found = resync.find(stream[cut:], len(stream))
    assert found is not None
    _, codec, made = found
    assert codec.status == "trailing" and _agrees(made, TEXT) > 0.8     # (the gzip trailer)


@pytest.mark.parametrize("step", [1, 7, 1460, 65536])
def test_a_stream_fed_in_pieces_decodes_as_fed_whole(step):
    stream = gzip.compress(TEXT)[33_333:]
    bit, _, _ = resync.find(stream, len(stream))
    whole = resync.ResyncCodec(bit).feed_split(stream)[0]
    codec = resync.ResyncCodec(bit)
    assert b"".join(codec.feed_split(stream[i:i + step])[0] for i in range(0, len(stream), step)) == whole


def test_what_a_block_copies_from_before_it_is_zeros_fewer_as_it_goes_on():
    stream = gzip.compress(TEXT)
    _, _, made = resync.find(stream[40_000:], len(stream))
    first, last = made[:65_536].count(0), made[-65_536:].count(0)
    assert first > 0.3 * 65_536 and last < first / 3


def test_the_output_is_bounded_by_its_allowance():
    bomb = zlib.compress(random.Random(1).randbytes(3000) + bytes(50 << 20), 9)[2:]
    bit = _starts(bomb)[0]
    codec = resync.ResyncCodec(bit, Allowance(Limits(max_ratio=100, ratio_floor=1 << 16)))
    made, _ = codec.feed_split(bomb)
    assert codec.status == "limit" and len(made) <= 100 * len(bomb)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(0, 8 * 3000))
def test_any_bytes_from_any_bit_never_raise(data, bit):
    codec = resync.ResyncCodec(bit)
    codec.feed_split(data)
    codec.end_split()
    assert _starts(data) == sorted(_starts(data))


def test_a_piece_of_many_block_headers_costs_max_tried_decodes_at_most(monkeypatch):
    """Short streams one after another, each a block of its own codes that makes too little to count."""
    def short(n: int) -> bytes:
        raw, rng = zlib.compressobj(9, zlib.DEFLATED, -15), random.Random(n)
        return raw.compress(bytes(rng.choice(b"ACGT") for _ in range(600))) + raw.flush()
    data = b"".join(short(n) for n in range(200))
    assert len(_starts(data)) > resync.MAX_TRIED
    made = []
    monkeypatch.setattr(resync, "ResyncCodec", lambda *a, cls=resync.ResyncCodec: made.append(1) or cls(*a))
    assert resync.find(data, len(data)) is None
    assert len(made) <= resync.MAX_TRIED


BZ2_TEXT = TEXT[:1_500_000]


def test_a_bzip2_stream_cut_anywhere_is_read_from_its_next_block_to_its_end():
    stream = bz2.compress(BZ2_TEXT, 1)               # blocks of 100 kB
    found = resync.find_bz2(stream[70_000:], 1 << 20)
    assert found is not None
    bit, codec, made = found
    assert codec.status == "ok" and codec.members == 1 and BZ2_TEXT.endswith(made) and len(made) > 700_000
    again = resync.Bz2ResyncCodec(bit)
    piece = stream[70_000:]
    assert b"".join(again.feed_split(piece[i:i + 1000])[0] for i in range(0, len(piece), 1000)) == made


def test_random_bytes_hold_no_bzip2_block_and_a_block_without_end_is_bounded():
    assert resync.find_bz2(random.Random(7).randbytes(1 << 20), 1 << 20) is None
    codec = resync.Bz2ResyncCodec(0)
    codec.feed_split(resync.BZ2_BLOCK + random.Random(8).randbytes(resync.MAX_BZ2_BLOCK + 10))
    assert codec.status == "corrupt"
