"""xz: concatenated streams, legacy LZMA-alone."""

from __future__ import annotations

import lzma

from sandbox.decode import expand

CHAIN = ("tcp",)
READS = b"".join(b"@r%d\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" % i for i in range(3000))


def _views(data: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(data, CHAIN).views}


def test_xz_streams_concatenated_and_lzma_alone():
    assert _views(lzma.compress(READS[:50000]) + lzma.compress(READS[50000:]))[CHAIN + ("xz",)] == READS
    assert _views(lzma.compress(READS, format=lzma.FORMAT_ALONE))[CHAIN + ("lzma",)] == READS
