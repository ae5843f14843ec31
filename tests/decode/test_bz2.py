"""bzip2: concatenated streams (pbzip2)."""

from __future__ import annotations

import bz2

from sandbox.decode import expand

CHAIN = ("tcp",)
READS = b"".join(b"@r%d\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" % i for i in range(3000))


def _views(data: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(data, CHAIN).views}


def test_bz2_streams_concatenated():
    assert _views(bz2.compress(READS[:50000]) + bz2.compress(READS[50000:]))[CHAIN + ("bz2",)] == READS
