"""lz4: frames in a row, skippable frames, frames inside other bytes (Arrow IPC / Feather buffers)."""

from __future__ import annotations

import io
import random
import struct

import lz4.block
import lz4.frame
import pyarrow as pa
import pyarrow.feather as feather

from sandbox.decode import Budget, expand
from sandbox.decode.lz4 import Lz4Decoder, _header_ok, raw_block

CHAIN = ("tcp",)
rng = random.Random(4)
SEQS = ["".join(rng.choice("ACGT") for _ in range(150)) for _ in range(800)]
READS = "".join(f"@r{i}\n{s}\n+\n{'F' * 150}\n" for i, s in enumerate(SEQS)).encode()


def _views(data: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(data, CHAIN).views}


def test_frames_in_a_row_and_a_skippable_frame():
    skippable = struct.pack("<II", 0x184D2A51, 4) + b"meta"
    data = lz4.frame.compress(READS[:50000]) + skippable + lz4.frame.compress(READS[50000:], block_linked=False)
    assert _views(data)[CHAIN + ("lz4",)] == READS


def test_a_frame_inside_other_bytes():
    head = b"\x00\x01BUNDLE v2\x00" + bytes(range(40))
    data = head + lz4.frame.compress(READS, content_checksum=True) + b"\x00end"
    assert _views(data)[CHAIN + (f"lz4@{len(head)}",)] == READS


def test_feather_buffers_are_each_a_frame():
    """Feather v2 (Arrow IPC) compresses each buffer as its own LZ4 frame by default: the reads'
    string buffer is one of them."""
    buf = io.BytesIO()
    feather.write_feather(pa.table({"seq": SEQS}), buf, compression="lz4")
    views = expand(buf.getvalue(), CHAIN).views
    joined = "".join(SEQS).encode()
    assert [v.chain[-1].startswith("lz4@") for v in views if v.data == joined] == [True]


def test_a_frame_cut_inside_its_end_mark_keeps_its_content():
    """python-lz4 raises a TypeError there (its unused_data is None): the content is kept, truncated."""
    data = lz4.frame.compress(READS[:1200], content_checksum=True)[:-3]
    got = [v for v in expand(data, CHAIN).views if len(v.chain) == 2]
    assert [v.chain[-1] for v in got] == ["lz4(truncated)"] and READS.startswith(got[0].data) and got[0].data


def test_a_magic_without_a_frame_descriptor_is_not_tried():
    """Reserved bits set, a version other than 01, a block size under 64 KiB: the four magic bytes
    by chance, in other data."""
    frame = lz4.frame.compress(READS)
    assert _header_ok(b"x" * 100 + frame, 100)
    for descriptor in (b"\x42\x40", b"\x60\x30", b"\x60\x41", b"\x80\x40", b"\x60\xc0"):
        data = b"x" * 100 + b"\x04\x22\x4d\x18" + descriptor + bytes(50)
        assert Lz4Decoder.sniff(data) and not _header_ok(data, 100)


def test_a_raw_block_behind_its_size_or_not():
    """python-lz4's lz4.block (its size first), Java's LZ4Compressor (none), high compression: no magic,
    so a block of reads replayed clean."""
    for block, start in ((lz4.block.compress(READS), 4), (lz4.block.compress(READS, store_size=False), 0),
                         (lz4.block.compress(READS, mode="high_compression"), 4)):
        assert raw_block(block) == (start, len(READS), False)
        assert _views(block)[CHAIN + ("lz4 block",)] == READS


def test_what_is_no_whole_block_is_not_read():
    """A block cut short, one with bytes after it, random bytes and text walk to no end; a block of
    literals alone is its own bytes, two shorter (no back-reference: not taken)."""
    block = lz4.block.compress(READS, store_size=False)
    for data in (block[:-100], block + b"\n", lz4.block.compress(READS)[:-1]):
        assert raw_block(data) is None
    literals = lz4.block.compress(rng.randbytes(500), store_size=False)
    assert raw_block(literals) is None
    chance = sum(raw_block(rng.randbytes(rng.choice((40, 400, 4000)))) is not None for _ in range(20000))
    assert chance == 0 and raw_block(READS) is None


def test_a_block_past_the_budget_is_said():
    block = lz4.block.compress(READS)
    budget = Budget(len(READS) - 1, "test")
    assert list(Lz4Decoder.decode(block, budget)) == [] and budget.hit == "test"


def test_a_raw_block_after_a_length_or_a_header_of_the_sender_s_own():
    text = b"".join(b"@r%d\nACGTTGCAACGTTGCAGGT\n+\nFFFFFFFFFFFFFFFFFFF\n" % i for i in range(2000))
    block = lz4.block.compress(text, store_size=False)
    for header in (b"\x01\x02", b"H" * 8, b"SEQ1" * 4):
        views = list(Lz4Decoder.decode(header + block, Budget(1 << 26, "t")))
        assert views == [(f"lz4 block@{len(header)}", text)]


def test_a_block_behind_its_size_that_copies_from_a_dictionary_is_read_with_zeros_and_said():
    """Copies from a dictionary before the block: read with zeros for it (a dictionary of the sender's
    random bytes is never copied from: read as a plain block); said not read; random bytes behind a size
    are not taken for one."""
    block = lz4.block.compress(READS, dict=READS[-4000:])
    budget = Budget(1 << 30, "test")
    [(label, out)] = Lz4Decoder.decode(block, budget)
    assert label == "lz4 block (dictionary)" and len(out) == len(READS) and out != READS
    assert all(o in (r, 0) for o, r in zip(out, READS, strict=True))
    assert "LZ4 block with a preset dictionary" in budget.unread[0][0]
    rng = random.Random(9)
    sized = (len(d).to_bytes(4, "little") + d for d in (rng.randbytes(rng.choice((40, 400, 4000))) for _ in range(20000)))
    assert not any((b := raw_block(s)) is not None and b[2] for s in sized)
