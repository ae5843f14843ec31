"""snappy: the framing format, xerial's (Kafka, Hadoop), a raw block at the start of a view."""

from __future__ import annotations

import random
import struct

import cramjam

from sandbox.decode import Budget, expand
from sandbox.decode.snappy import SnappyDecoder

CHAIN = ("tcp",)
rng = random.Random(5)
READS = "".join(f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(150))}\n+\n{'F' * 150}\n"
                for i in range(800)).encode()


def _views(data: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(data, CHAIN).views}


def _framed_chunk(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "little") + body


def test_framed_stream_with_every_chunk_kind():
    """Compressed and uncompressed chunks (after their CRC), padding, a skippable chunk, a second
    stream identifier (streams concatenated)."""
    half = len(READS) // 2
    ident = b"\xff\x06\x00\x00sNaPpY"
    data = (ident + _framed_chunk(0x00, b"crc!" + bytes(cramjam.snappy.compress_raw(READS[:half])))
            + _framed_chunk(0xFE, bytes(9)) + _framed_chunk(0x90, b"vendor metadata")
            + ident + _framed_chunk(0x01, b"crc!" + READS[half:]))
    assert _views(data)[CHAIN + ("snappy",)] == READS


def test_a_framed_stream_inside_other_bytes():
    head = b"POST body prefix\x00\x01"
    data = head + bytes(cramjam.snappy.compress(READS)) + b"\x7ftrailer"
    assert _views(data)[CHAIN + (f"snappy@{len(head)}",)] == READS


def test_a_kafka_style_xerial_batch():
    blocks = [bytes(cramjam.snappy.compress_raw(READS[i: i + 32768])) for i in range(0, len(READS), 32768)]
    xerial = b"\x82SNAPPY\x00" + (1).to_bytes(4, "big") * 2 + b"".join(len(b).to_bytes(4, "big") + b for b in blocks)
    record_batch_head = bytes(61)  # a Kafka record batch's header before its compressed records
    assert _views(record_batch_head + xerial)[CHAIN + ("snappy@61",)] == READS


def test_a_raw_block_at_the_start():
    """A Loki push or a Prometheus remote write sent without its Content-Encoding: one raw block."""
    assert _views(bytes(cramjam.snappy.compress_raw(READS)))[CHAIN + ("snappy",)] == READS


def test_a_raw_block_must_decode_whole():
    block = bytes(cramjam.snappy.compress_raw(READS))
    for damaged in (block + b"\x00", block[:-1], block[:1] + b"\x01" + block[2:]):
        assert [v.chain for v in expand(damaged, CHAIN).views if v.chain[-1] == "snappy"] == []


def test_a_raw_size_no_block_can_declare_allocates_nothing():
    """Past 22 times its length no block can expand: such a size is not taken for one."""
    lie = bytes([0xFF, 0xFF, 0xFF, 0x7F]) + bytes(1000)  # 256 MiB declared
    assert not SnappyDecoder.sniff(lie)


def test_a_raw_block_larger_than_the_budget_is_a_limit_hit():
    block = bytes(cramjam.snappy.compress_raw(bytes(200_000)))
    budget = Budget(100_000, "test budget")
    assert SnappyDecoder.sniff(block) and list(SnappyDecoder.decode(block, budget)) == []
    assert budget.hit == "test budget" and budget.left == len(block)


def test_a_raw_block_after_a_length_or_a_header_of_the_sender_s_own():
    text = b"".join(b"@r%d\nACGTTGCAACGTTGCAGGT\n+\nFFFFFFFFFFFFFFFFFFF\n" % i for i in range(2000))
    block = bytes(cramjam.snappy.compress_raw(text))
    for header in (b"\x01\x02", b"\x40\x9c\x00\x00", b"H" * 8, b"SEQ1" * 4):
        assert list(SnappyDecoder.decode(header + block, Budget(1 << 26, "t"))) == [(f"snappy@{len(header)}", text)]
    assert not SnappyDecoder.sniff(b"\x01\x02\x03" + block)          # an offset no header takes


def test_raw_blocks_one_after_another_each_after_its_length():
    text = b"".join(b"@r%d\nACGTTGCAACGTTGCAGGT\n+\nFFFFFFFFFFFFFFFFFFF\n" % i for i in range(2000))
    pieces = [text[i:i + 4096] for i in range(0, len(text), 4096)]
    for field in (lambda n: struct.pack("<I", n), lambda n: struct.pack(">H", n), lambda n: struct.pack("<Q", n)):
        records = b"".join(field(len(b)) + b for b in (bytes(cramjam.snappy.compress_raw(p)) for p in pieces))
        assert [view for _, view in SnappyDecoder.decode(records, Budget(1 << 26, "t"))] == pieces
