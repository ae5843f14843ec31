"""Raw deflate has no magic: real streams are taken, random bytes are not."""

from __future__ import annotations

import os
import random
import struct
import zlib

from sandbox.decode import Budget, expand
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


def test_streams_after_a_header_and_in_chunks():
    """.NET's DeflateStream inside a vendor's bundle (a header of its own, then raw deflate), and
    chunks each after their length: a stream at one of the first 64 offsets, and each one within 16
    bytes of the last one's end."""
    rng = random.Random(16)
    text = "".join(f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(150))}\n" for i in range(300)).encode()

    def raw(d: bytes) -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return c.compress(d) + c.flush()

    bundle = b"VNDR" + struct.pack("<IIQQ", 2, len(text), 7, 0) + raw(text)
    assert {v.chain[-1]: v.data for v in expand(bundle, ("tcp",)).views}["deflate@28"] == text
    pieces = [text[i: i + 8192] for i in range(0, len(text), 8192)]
    chunked = b"".join(struct.pack("<I", len(c)) + c for c in map(raw, pieces))
    got = [v.data for v in expand(chunked, ("tcp",)).views if v.chain[-1].startswith("deflate@")]
    assert got == pieces


def test_random_bytes_after_any_header_are_not_taken():
    for _ in range(2000):
        assert not [v for v in expand(os.urandom(4096), ("tcp",)).views if v.chain[-1].startswith("deflate")]


def test_a_raw_stream_with_a_preset_dictionary_is_read_with_zeros_for_it_and_said():
    """A stream that copies from a dictionary errs with a copy from before its start: read with zeros
    for the dictionary, said not read; random bytes that so err are not taken."""
    text = "".join(f"@r{i}\n{''.join(random.Random(i).choice('ACGT') for _ in range(150))}\n" for i in range(200)).encode()
    c = zlib.compressobj(wbits=-15, zdict=text[-3000:])
    stream = c.compress(text) + c.flush()
    budget = Budget(1 << 30, "test")
    [(label, out)] = DeflateDecoder.decode(stream, budget)
    assert label == "deflate (preset dictionary)" and len(out) == len(text) and out != text
    assert all(o in (t, 0) for o, t in zip(out, text, strict=True))
    assert "raw deflate stream with a preset dictionary" in budget.unread[0][0]
    rng = random.Random(4)
    assert not any(DeflateDecoder.sniff(rng.randbytes(4096)) for _ in range(20000))
