"""Brotli has no magic: real streams are taken, random bytes and verbatim copies are not."""

from __future__ import annotations

import os
import random
import struct

import brotli

from sandbox.decode import Budget
from sandbox.decode.brotli import BrotliDecoder
from tests.decode.test_conformance import _reads

READS = b"".join(b"@r%d\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" % i for i in range(3000))


def _decode(data: bytes) -> list[tuple[str, bytes]]:
    return list(BrotliDecoder.decode(data, Budget(1 << 26, "test"))) if BrotliDecoder.sniff(data) else []


def test_streams_at_every_quality():
    for quality in (0, 5, 11):
        assert _decode(brotli.compress(READS, quality=quality)) == [("brotli", READS)]


def test_random_bytes_that_parse_as_an_uncompressed_meta_block_are_refused():
    rng = random.Random(3)
    parsed = 0
    for _ in range(400):
        data = rng.randbytes(1024)
        dec = brotli.Decompressor()
        try:
            if dec.process(data, output_buffer_limit=1 << 16):
                parsed += 1  # brotli itself accepts these bytes
        except brotli.error:
            continue
        assert _decode(data) == []
    assert parsed > 0  # the case this test is about did occur


def test_incompressible_content_stays_visible_in_the_input():
    blob = os.urandom(4000)
    data = brotli.compress(blob)
    assert blob in data  # stored verbatim: nothing to decode, the correlator sees it as is
    assert _decode(data) == []


def test_text_is_not_brotli():
    assert _decode(b"zi05aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ" * 3) == []


def test_a_stream_after_a_header_and_streams_one_after_another():
    """After a length of 2, 4 or 8 bytes or a header of 16 (a brotli of reads behind them replayed
    clean), and records of a length and a stream one after the other: each stream read to its end."""
    text = _reads(300, seed=4)
    for header in (b"\x10\x00", struct.pack("<I", len(text)), struct.pack(">Q", len(text)), b"H" * 16):
        [(label, view)] = BrotliDecoder.decode(header + brotli.compress(text), Budget(1 << 26, "t"))
        assert view == text and label == f"brotli@{len(header)}"
    pieces = [text[i:i + 4096] for i in range(0, len(text), 4096)]
    records = b"".join(struct.pack("<I", len(c)) + c for c in map(brotli.compress, pieces))
    assert [view for _, view in BrotliDecoder.decode(records, Budget(1 << 26, "t"))] == pieces
    trailing = brotli.compress(text) + random.Random(1).randbytes(3000)     # a stream, then other bytes
    assert [view for _, view in BrotliDecoder.decode(trailing, Budget(1 << 26, "t"))] == [text]
    small = [text[i:i + 120] for i in range(0, 24000, 120)]                 # records of a few dozen bytes
    records = b"".join(struct.pack(">H", len(c)) + c for c in map(brotli.compress, small))
    assert [view for _, view in BrotliDecoder.decode(records, Budget(1 << 26, "t"))] == small
    bomb = brotli.compress(bytes(64 << 20)) + b"\x00" * 100                  # more than the budget, then bytes
    views = list(BrotliDecoder.decode(bomb, Budget(1 << 20, "t")))
    assert len(views) == 1 and len(views[0][1]) <= 1 << 20
