"""XMODEM/YMODEM decoding details, on blocks built here byte by byte (the real lrzsz sessions are
in the conformance suite)."""

from __future__ import annotations

import binascii

from sandbox.protocols.serial.transfer import FileData, FileEnd, FileStart, Unclaimed
from sandbox.protocols.serial.xmodem import XmodemTransfer


def block(n: int, data: bytes, crc: bool = True) -> bytes:
    size = 128 if len(data) <= 128 else 1024
    data = data.ljust(size, b"\x1a")
    check = binascii.crc_hqx(data, 0).to_bytes(2, "big") if crc else bytes([sum(data) & 0xFF])
    return bytes([1 if size == 128 else 2, n & 0xFF, 255 - (n & 0xFF)]) + data + check


def decode(stream: bytes, replies: bytes = b"", start: bool = True) -> list:
    t = XmodemTransfer("out")
    events = t.feed("in", replies) if replies else []
    events += t.feed("out", stream)
    return events + (t.close() if not t.done else [])


def data_of(events: list) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, FileData))


def test_checksum_blocks_need_a_follower_to_be_found_and_sub_padding_is_stripped():
    body = bytes(range(200))
    stream = block(1, body[:128], crc=False) + block(2, body[128:], crc=False) + b"\x04"
    assert XmodemTransfer.find(stream[:132]) == (-1, 0)          # block 1 alone: held, not judged
    assert XmodemTransfer.find(b"xx" + stream)[0] == 2
    assert data_of(decode(stream)) == body


def test_crc_blocks_wrap_past_255_and_retransmissions_count_once():
    body = bytes(i * 7 % 251 for i in range(300 * 128))
    blocks = [block(i + 1, body[i * 128:(i + 1) * 128]) for i in range(300)]
    stream = b"".join(blocks[:10]) + blocks[9] + b"".join(blocks[10:]) + b"\x04"    # block 10 sent twice
    events = decode(stream, replies=b"C")
    assert data_of(events) == body
    assert [e for e in events if isinstance(e, FileEnd)] == [FileEnd("out", True, "")]


def test_a_corrupt_block_goes_back_unclaimed_and_its_resend_is_the_file():
    body = b"ACGT" * 64
    bad = bytearray(block(2, body[128:]))
    bad[50] ^= 0x20
    events = decode(block(1, body[:128]) + bytes(bad) + block(2, body[128:]) + b"\x04")
    assert data_of(events) == body
    assert [len(e.data) for e in events if isinstance(e, Unclaimed)] == [133]


def test_ymodem_names_sizes_batches_and_the_empty_header():
    def header(name: bytes, size: int) -> bytes:
        return block(0, name + b"\0" + str(size).encode() + b" 14000000000 100644\0")

    a, b = b"x" * 300, b"y" * 10
    stream = (header(b"reads.fastq", 300) + block(1, a[:128]) + block(2, a[128:256]) + block(3, a[256:]) + b"\x04"
              + header(b"dir/\x1bname.txt", 10) + block(1, b) + b"\x04" + block(0, b"\0" * 128))
    t = XmodemTransfer("out")
    events = t.feed("out", stream)
    assert t.done
    starts = [e for e in events if isinstance(e, FileStart)]
    assert [(s.protocol, s.name, s.size) for s in starts] == [("ymodem", "reads.fastq", 300),
                                                              ("ymodem", "dir/?name.txt", 10)]
    assert data_of(events) == a + b       # sizes cut the padding, even a padding that is not ^Z


def test_picked_up_midway_says_so_and_a_cancel_ends_the_file():
    t = XmodemTransfer("out")
    events = t.feed("out", block(7, b"z" * 128) + block(8, b"w" * 128))
    events += t.feed("in", b"\x18\x18\x18")
    assert events[0] == FileStart("out", "xmodem", note="picked up at block 7: offsets count from there")
    assert t.done and events[-1] == FileEnd("out", False, "cancelled by the receiver")
    assert data_of(events) == b"z" * 128 + b"w" * 128


def test_receiver_words_are_framing_and_anything_else_is_unclaimed():
    t = XmodemTransfer("out")
    events = t.feed("in", b"CCC\x06\x15hidden words\x06")
    assert [(e.position, e.data) for e in events if isinstance(e, Unclaimed)] == [(5, b"hidden words")]
