"""zlib: the header check that stands in for a magic number."""

from __future__ import annotations

import zlib

from sandbox.decode.zlib import ZlibDecoder

CHAIN = ("tcp",)
READS = b"".join(b"@r%d\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" % i for i in range(3000))


def test_zlib_header_check():
    for level in (1, 6, 9):
        assert ZlibDecoder.sniff(zlib.compress(READS, level))
    assert not ZlibDecoder.sniff(b"x\x00\x00")  # 0x7800 is not a multiple of 31
    assert not ZlibDecoder.sniff(b"\x78\xbb\x00")  # preset dictionary flag
