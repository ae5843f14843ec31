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


def test_bz2_inside_a_binary_frame_and_two_of_them():
    """Found mid-view like gzip and zip: "bz2@<offset>"; a second stream further on too."""
    first, second = b"\x01\x00\x00\x2a" + bytes(12), b"\x02\x00\x00\x2a"
    a, b = bz2.compress(READS[:40000]), bz2.compress(READS[40000:] + b"second")
    views = _views(first + a + second + b)
    assert views[CHAIN + (f"bz2@{len(first)}",)] == READS[:40000]
    assert views[CHAIN + (f"bz2@{len(first) + len(a) + len(second)}",)] == READS[40000:] + b"second"


def test_bzh_in_text_is_not_a_stream():
    assert list(_views(b"the BZh9 prefix in prose is no bzip2 stream at all, just words").values())[1:] == []
