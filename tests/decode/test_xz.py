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


def test_xz_inside_a_binary_frame():
    """Found mid-view like gzip and zip, not only at offset 0: "xz@<offset>"."""
    header = b"\x00\x07VNDR-SYNC\x00\x00\x01\x02" + bytes(13)
    frame = header + lzma.compress(READS) + b"\xff\xfe trailer"
    views = _views(frame)
    assert views[CHAIN + (f"xz@{len(header)}",)] == READS


def test_lzma_alone_is_not_searched_for_mid_view():
    assert CHAIN + ("lzma",) not in _views(b"header" + lzma.compress(READS, format=lzma.FORMAT_ALONE))
