"""Length-prefixed records: the framings found on their flows' first bytes, none on random bytes or text;
the body's start found by the compressed stream; the bodies followed however the bytes come."""

from __future__ import annotations

import gzip
import random
import struct

import pytest

from sandbox.model import FlowInfo
from sandbox.protocols.context import FlowContext
from sandbox.protocols.framing import (
    DETECT_BYTES,
    EXTRAS,
    HELD,
    MAX_HELD,
    RecordFraming,
    body_start,
    find_framing,
)

RNG = random.Random(11)
TEXT = b"".join(b"@r%d 1:N:0:ACGT\n%s\n+\n%s\n" % (n, bytes(RNG.choice(b"ACGT") for _ in range(100)), b"F" * 100)
                for n in range(800))
STREAM = gzip.compress(RNG.randbytes(60_000) + TEXT)


def make_ctx() -> FlowContext:
    info = FlowInfo(flow="tcp f", channel="net", transport="tcp", src="10.0.0.2", sport=40000, dst="192.0.2.9",
                    dport=7777)
    return FlowContext(flow="tcp f", info=info, shared={}, chain=("tcp",))


def _records(stream: bytes, size: int, header) -> bytes:
    return b"".join(header(n, stream[i:i + size]) for n, i in enumerate(range(0, len(stream), size)))


SHAPES = {
    "length, 4 bytes big-endian": (lambda n, c: struct.pack(">I", len(c)) + c, 4),
    "length counting a sequence number after it": (lambda n, c: struct.pack(">II", len(c) + 4, n) + c, 8),
    "length, 3 bytes little-endian, and a sequence byte": (lambda n, c: struct.pack("<I", len(c))[:3]
                                                           + bytes([n & 255]) + c, 4),
    "8-byte header, length at 2 counting the record": (lambda n, c: struct.pack(">BBHHBB", 7, 0, len(c) + 8, 52,
                                                                                n & 255, 0) + c, 8),
    "16-byte header, length at 0 counting the record": (lambda n, c: struct.pack("<iiii", len(c) + 16, n, 0, 2013)
                                                        + c, 16),
}


@pytest.mark.parametrize("name", SHAPES)
def test_each_framing_is_found_and_its_bodies_start_where_the_stream_goes_on(name):
    header, size = SHAPES[name]
    framed = _records(STREAM, 4000, header)[:DETECT_BYTES]
    found = find_framing(framed)
    assert found is not None, name
    framing, records, first = found
    assert first == 0 and [at for at, _ in records[:3]] == [0, 4000 + size, 2 * (4000 + size)]
    assert body_start(framed, records, framing) == size


def test_random_bytes_and_text_have_no_framing():
    for seed in range(1000):
        assert find_framing(random.Random(seed).randbytes(DETECT_BYTES)) is None, seed
    assert find_framing(TEXT[:DETECT_BYTES]) is None
    assert find_framing(b"\x00" * DETECT_BYTES) is None


def _followed(ctx: FlowContext, data: bytes, step: int) -> bytes:
    records = RecordFraming(ctx)
    items = []
    for i in range(0, len(data), step):
        items += records.feed(data[i:i + step], 1.0)
    items += records.end(2.0)
    return b"".join(item.data for item in items if getattr(item, "data", None))


def test_the_bodies_are_followed_as_one_stream_however_the_bytes_come():
    header, _ = SHAPES["length counting a sequence number after it"]
    framed = _records(STREAM, 16384, header)
    whole = _followed(make_ctx(), framed, len(framed))
    assert TEXT[-20_000:] in whole
    for step in (1460, 4093, 65536):
        assert _followed(make_ctx(), framed, step) == whole, step


@pytest.mark.parametrize("size", [32, 64, 200])
def test_small_records_are_followed_as_one_stream_however_the_bytes_come(size):
    header, _ = SHAPES["length, 4 bytes big-endian"]
    framed = _records(STREAM, size, header)
    whole = _followed(make_ctx(), framed, len(framed))
    assert TEXT[-20_000:] in whole
    for step in (1, 7, 1460, 65536):
        assert _followed(make_ctx(), framed[:40_000], step) == _followed(make_ctx(), framed[:40_000], 40_000), step


def test_of_the_framings_that_fit_the_one_of_the_most_records_is_the_flow_s():
    """Records of 68 bytes behind a little-endian length of 64 and a sequence number: read big-endian, the
    length says 16,388, and each 241st record starts where that says."""
    framed = _records(STREAM, 64, lambda n, c: struct.pack("<HH", len(c), n & 0xFFFF) + c)[:DETECT_BYTES]
    framing, records, _ = find_framing(framed)
    assert framing.order == "little" and records[1][0] == 68


def test_a_short_flow_is_looked_at_when_it_ends_and_a_record_that_does_not_fit_ends_the_stream():
    header, _ = SHAPES["length, 4 bytes big-endian"]
    short = _records(gzip.compress(TEXT[:30_000]), 2000, header)
    assert len(short) < DETECT_BYTES and TEXT[20_000:30_000] in _followed(make_ctx(), short, 1460)
    broken = _records(STREAM, 16384, header)
    broken = broken[:70_000] + b"\xff\xff\xff\xff" + broken[70_000:]
    assert TEXT[-20_000:] not in _followed(make_ctx(), broken, 1460)


def test_the_first_bytes_held_by_all_flows_are_bounded():
    ctx = make_ctx()
    flows = [RecordFraming(ctx) for _ in range(MAX_HELD // DETECT_BYTES + 10)]
    for records in flows:
        records.feed(b"\x00\x00\x10\x00" * (DETECT_BYTES // 8), 1.0)
    assert ctx.shared[HELD].bytes <= MAX_HELD
    for records in flows:
        records.end(2.0)
    assert not ctx.shared[HELD]


LINE_SHAPES = {
    "a JSON line before each body": lambda n, c: b'{"seq":%d,"len":%d,"type":"chunk"}\n' % (n, len(c)) + c,
    "a length line before each body, a line break after it": lambda n, c: b"$%d\r\n" % len(c) + c + b"\r\n",
}


@pytest.mark.parametrize("name", LINE_SHAPES)
def test_a_line_of_text_naming_each_bodys_length_is_a_framing(name):
    framed = _records(STREAM, 16384, LINE_SHAPES[name])
    assert find_framing(framed[:DETECT_BYTES]) is not None
    assert TEXT[-20_000:] in _followed(make_ctx(), framed, 1460)
    assert find_framing(TEXT[:DETECT_BYTES]) is None           # numbers in text lines lead to text


def test_a_flood_of_tiny_records_after_the_first_ones_ends_the_reading():
    """Each record costs a pass: bodies of a few bytes on average end the reading (the raw chunks still
    hold every byte)."""
    header, _ = SHAPES["length, 4 bytes big-endian"]
    head = _records(STREAM * 2, 16384, header)     # its first DETECT_BYTES all records of 16 kB
    flood = head + b"".join(struct.pack(">I", 1) + b"x" for _ in range(20_000))
    framing = RecordFraming(make_ctx())
    for i in range(0, len(flood), 1460):
        framing.feed(flood[i:i + 1460], 1.0)
        if i == len(head) // 1460 * 1460 - 1460:
            assert framing.framing is not None           # followed so far
    assert framing.framing is None                       # the reading ended


def test_records_after_a_preamble_of_text_lines_are_found():
    """A protocol that opens with a banner and a greeting, then frames its records."""
    header, _ = SHAPES["length counting a sequence number after it"]
    preamble = b"VENDOR-LINK 2.1 ready\r\nHELLO instrument=M07011 proto=2\n"
    framed = preamble + _records(STREAM, 16384, header)
    framing, records, first = find_framing(framed[:DETECT_BYTES])
    assert first == len(preamble) and records[0] == (0, 16384 + 8)
    assert TEXT[-20_000:] in _followed(make_ctx(), framed, 1460)
    assert find_framing(b"line one\n" * 5 + _records(STREAM, 16384, header)[:DETECT_BYTES]) is None   # too many


def test_a_large_record_is_counted_never_held():
    """A record may claim 16 MiB: its bytes are followed and counted as they come, none kept whole."""
    header, _ = SHAPES["length, 4 bytes big-endian"]
    head = _records(STREAM * 2, 16384, header)
    framing = RecordFraming(make_ctx())
    framing.feed(head, 1.0)
    framing.feed(struct.pack(">I", 15 << 20), 1.0)
    for _ in range(200):
        framing.feed(RNG.randbytes(65536), 1.0)
        assert framing.framing is not None and len(framing.record) <= 8
    assert framing.filled == 4 + 200 * 65536


@pytest.mark.parametrize("extra", [3, 13, 28, 40, 64])
def test_header_bytes_a_length_does_not_count_of_any_size_are_found(extra):
    """Past the usual 0, 1, 2, 4 or 8: any count up to 64, where no usual framing fits."""
    framed = _records(STREAM, 200, lambda n, c: struct.pack(">I", len(c)) + bytes([n & 255]) * extra + c)
    framing, records, _ = find_framing(framed[:DETECT_BYTES])
    assert (framing.width, framing.whole, framing.extra) == (4, False, extra) and records[1][0] == 204 + extra


def test_random_bytes_and_text_fit_no_framing_of_another_header_size():
    rng = random.Random(3)
    for _ in range(20):
        assert find_framing(rng.randbytes(DETECT_BYTES)) is None
    found = find_framing(b"".join(b"line %d of a log\n" % i for i in range(8000))[:DETECT_BYTES])
    assert found is None or getattr(found[0], "extra", 0) in EXTRAS      # (text is no binary length's)
