"""Formats recognised and not read: lzop and ARJ as their own tools write them, RAR 4 and 5, LHA,
ACE and WIM headers written from their specifications; RAR inside other bytes; encrypted RAR
headers left as sealed content; near misses say nothing."""

from __future__ import annotations

import random
import struct
import subprocess
import zlib

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.unreadable import UnreadableDecoder

CHAIN = ("tcp",)
RNG = random.Random(4)
READS = "".join(f"@r{i}\n{''.join(RNG.choice('ACGT') for _ in range(150))}\n" for i in range(500)).encode()
PACKED = RNG.randbytes(6000)  # what compressed members look like


def _said(data: bytes) -> list[tuple[str, int]]:
    exp = expand(data, CHAIN)
    assert [v.chain for v in exp.views] == [CHAIN] and not exp.notes
    return [(u.what, u.size) for u in exp.unread]


def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not out[-1] & 0x80:
            return bytes(out)


def _rar5_header(kind: int, body: bytes = b"") -> bytes:
    """A RAR 5 header block: CRC32 of what follows it, its size, its type, flags, body."""
    block = _vint(kind) + _vint(0) + body
    block = _vint(len(block)) + block
    return struct.pack("<I", zlib.crc32(block)) + block


def _rar5(encrypted: bool = False) -> bytes:
    first = _rar5_header(4, _vint(0) + _vint(0) + bytes(16 + 16)) if encrypted else _rar5_header(1, _vint(0))
    return b"Rar!\x1a\x07\x01\x00" + first + _rar5_header(2, b"run.fastq") + PACKED


def _rar4(encrypted: bool = False) -> bytes:
    flags = 0x0080 if encrypted else 0
    main = struct.pack("<HBHH", 0, 0x73, flags, 13) + bytes(6)
    return b"Rar!\x1a\x07\x00" + main + PACKED


def _lha() -> bytes:
    """A level-0 LHA header of a -lh5- member (LZ77 and Huffman, LHA's default)."""
    name = b"run.fastq"
    head = b"-lh5-" + struct.pack("<IIIBB", len(PACKED), 60_000, 0, 0x20, 0) + bytes([len(name)]) + name + b"\x00\x00"
    return bytes([len(head), sum(head) & 0xFF]) + head + PACKED


def _tool(command: list[str], data: bytes, tmp_path) -> bytes:
    (tmp_path / "run.fastq").write_bytes(data)
    return subprocess.run(command, cwd=tmp_path, capture_output=True, check=True).stdout


def test_lzop_and_arj_as_their_tools_write_them(tmp_path):
    lzo = _tool(["lzop", "-c", "run.fastq"], READS, tmp_path)
    assert _said(lzo) == [("lzop file (LZO), which the rig does not read", len(lzo))]
    _tool(["arj", "a", "-y", "-m1", "out.arj", "run.fastq"], READS, tmp_path)
    arj = (tmp_path / "out.arj").read_bytes()
    assert _said(arj) == [("ARJ archive, which the rig does not read", len(arj))]


@pytest.mark.parametrize("make, what", [
    (_rar5, "RAR 5 archive"), (_rar4, "RAR 4 archive"), (_lha, "LHA archive"),
    (lambda: b"MSWIM\x00\x00\x00" + PACKED, "Windows imaging (WIM) file"),
    (lambda: bytes(7) + b"**ACE**" + PACKED, "ACE archive"),
])
def test_every_format_is_said_not_read_whole(make, what):
    data = make()
    assert _said(data) == [(f"{what}, which the rig does not read", len(data))]


def test_a_rar_archive_inside_other_bytes_is_said_from_where_it_starts():
    prefix = b"MZ" + RNG.randbytes(3000)  # a self-extractor's stub
    data = prefix + _rar5()
    assert _said(data) == [("RAR 5 archive, which the rig does not read", len(data) - len(prefix))]


def test_encrypted_rar_headers_are_sealed_content_not_a_format_unread():
    for data in (_rar5(encrypted=True), _rar4(encrypted=True)):
        assert _said(data) == []


@pytest.mark.parametrize("data", [
    b"Rar!\x1a\x07\x02" + PACKED,  # no RAR version
    b"Rar!\x1a\x07\x00" + struct.pack("<HBHH", 0, 0x74, 0, 13) + PACKED,  # no main header first
    b"\x60\xea" + struct.pack("<H", 40) + PACKED,  # ARJ's magic, a header whose CRC is wrong
    b"xx-lh0-" + PACKED,  # LHA stored: its bytes are in the view
    b"a log line about Rar!\x1a\x07 and MSWIM " * 50,
])
def test_near_misses_say_nothing(data):
    budget = Budget(1 << 24, "test")
    assert list(UnreadableDecoder.decode(data, budget)) == [] and budget.unread == []
