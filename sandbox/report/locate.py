"""Where a frame's record lies in a capture file: what SARIF and the reports point a reviewer at.

A walk over record headers only (pcap record headers, pcapng block heads), numbering frames as the
capture readers do (every packet record or block takes a number, damaged or not), the file read
forward block by block: time linear in the number of records, memory of one block (a memory-mapped
file would count every page the walk touches in the process's resident memory: a whole capture).  A gzip-compressed
capture has no byte offset a viewer could seek to: its frames keep their numbers only.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from sandbox.captures.pcap import MAGICS
from sandbox.captures.pcapng import BYTE_ORDER_MAGIC, EPB, OPB, SHB, SPB

PCAP_FILE_HEADER = 24
PCAP_RECORD_HEADER = 16
PCAPNG_BLOCK_HEAD = 12  # type, total length, and (in a section header) the byte-order magic
PACKET_BLOCKS = frozenset((EPB, OPB, SPB))
BLOCK = 1 << 20  # bytes read at a time: about 700 record headers of full-size packets


class _Forward:
    """A file read forward in blocks, unpacked at absolute offsets (a walk's offsets only grow)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.size = os.fstat(fh.fileno()).st_size
        self.base, self.buf = 0, b""

    def __len__(self) -> int:
        return self.size

    def unpack(self, fmt: str, off: int) -> tuple:
        buf, base = self.at(off, struct.calcsize(fmt))
        return struct.unpack_from(fmt, buf, off - base)

    def at(self, off: int, need: int) -> tuple[bytes, int]:
        """The block read, and its offset, holding bytes [off, off + need) (fewer at the end)."""
        if off < self.base or off + need > self.base + len(self.buf):
            self.fh.seek(off)
            self.buf, self.base = self.fh.read(max(BLOCK, need)), off
        return self.buf, self.base


def frame_records(path: str | Path, frames: Iterable[int]) -> dict[int, tuple[int, int]]:
    """``{frame: (byte offset, byte length)}`` of each wanted frame's record in a plain pcap or pcapng
    file; frames past a damaged record, past the end, or in a compressed file are left out."""
    wanted = {f for f in frames if f > 0}
    if not wanted:
        return {}
    try:
        with open(path, "rb") as fh:
            buf = _Forward(fh)
            if len(buf) < 4:
                return {}
            magic = buf.unpack("<I", 0)[0]
            if magic in MAGICS:
                return _pcap(buf, magic, wanted)
            if magic == SHB:
                return _pcapng(buf, wanted)
    except (OSError, ValueError, struct.error):     # unreadable, vanished, cut while walked
        return {}
    return {}


def _pcap(buf: _Forward, magic: int, wanted: set[int]) -> dict[int, tuple[int, int]]:
    endian, _, extra = MAGICS[magic]
    captured = struct.Struct(endian + "8xI").unpack_from    # the captured length of a record header
    size = PCAP_RECORD_HEADER + extra
    last, out = max(wanted), {}
    off, frame, end = PCAP_FILE_HEADER, 0, len(buf)
    while off + size <= end and frame < last:
        block, base = buf.at(off, size)
        inside = base + len(block) - size       # the records whose header this block holds
        while off <= inside and frame < last:
            length = size + captured(block, off - base)[0]
            if off + length > end:
                return out
            frame += 1
            if frame in wanted:
                out[frame] = (off, length)
            off += length
    return out


def _pcapng(buf: _Forward, wanted: set[int]) -> dict[int, tuple[int, int]]:
    last, out = max(wanted), {}
    off, frame, end, endian = 0, 0, len(buf), "<"
    while off + PCAPNG_BLOCK_HEAD <= end and frame < last:
        if buf.unpack("<I", off)[0] == SHB:    # a palindrome: either byte order
            endian = "<" if buf.unpack("<I", off + 8)[0] == BYTE_ORDER_MAGIC else ">"
        btype, length = buf.unpack(endian + "II", off)
        if length < PCAPNG_BLOCK_HEAD or length % 4 or off + length > end:
            break
        if btype in PACKET_BLOCKS:
            frame += 1
            if frame in wanted:
                out[frame] = (off, length)
        off += length
    return out
