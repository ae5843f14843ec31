"""Brotli has no magic: real streams are taken, random bytes and verbatim copies are not."""

from __future__ import annotations

import os
import random

import brotli

from sandbox.decode import Budget
from sandbox.decode.brotli import BrotliDecoder

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
