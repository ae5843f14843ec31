"""Raw deflate has no magic: real streams are taken, random bytes are not."""

from __future__ import annotations

import random
import zlib

from sandbox.decode import Budget
from sandbox.decode.deflate import DeflateDecoder

READS = b"".join(b"@r%d\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" % i for i in range(3000))


def _raw(data: bytes, level: int = 6) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _decode(data: bytes) -> list[tuple[str, bytes]]:
    return list(DeflateDecoder.decode(data, Budget(1 << 26, "test"))) if DeflateDecoder.sniff(data) else []


def test_streams_at_several_levels():
    for level in (1, 6, 9):
        assert _decode(_raw(READS, level)) == [("deflate", READS)]


def test_truncated_stream():
    data = _raw(READS)
    got = _decode(data[: len(data) // 2])
    assert len(got) == 1 and got[0][0] == "deflate(truncated)" and READS.startswith(got[0][1])


def test_random_bytes_and_stored_blocks_are_not_taken():
    rng = random.Random(9)
    for _ in range(500):
        assert _decode(rng.randbytes(rng.randint(4, 5000))) == []
    assert _decode(_raw(READS, 0)) == []  # level 0 = stored blocks: the content is in the input


def test_short_text_that_reads_as_fixed_huffman_is_not_taken():
    # iodine's probe labels (elastic dns-tunnel capture) inflate as fixed-Huffman noise
    assert _decode(b"zi05aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ") == []
    assert _decode(b"zi1baA" + bytes(range(0xD0, 0xFE))) == []
