"""Where a frame's record lies in a capture file: what SARIF and the reports point a reviewer at.

A walk over record headers only (pcap record headers, pcapng block heads), numbering frames as the
capture readers do (every packet record or block takes a number, damaged or not), with the file
memory-mapped: time linear in the number of records, no packet bytes copied.  A gzip-compressed
capture has no byte offset a viewer could seek to: its frames keep their numbers only.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable
from pathlib import Path

from sandbox.captures.pcap import MAGICS
from sandbox.captures.pcapng import BYTE_ORDER_MAGIC, EPB, OPB, SHB, SPB

PCAP_FILE_HEADER = 24
PCAP_RECORD_HEADER = 16
PCAPNG_BLOCK_HEAD = 12  # type, total length, and (in a section header) the byte-order magic
PACKET_BLOCKS = frozenset((EPB, OPB, SPB))


def frame_records(path: str | Path, frames: Iterable[int]) -> dict[int, tuple[int, int]]:
    """``{frame: (byte offset, byte length)}`` of each wanted frame's record in a plain pcap or pcapng
    file; frames past a damaged record, past the end, or in a compressed file are left out."""
    wanted = {f for f in frames if f > 0}
    if not wanted:
        return {}
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            if len(buf) < 4:
                return {}
            magic = struct.unpack_from("<I", buf)[0]
            if magic in MAGICS:
                return _pcap(buf, magic, wanted)
            if magic == SHB:
                return _pcapng(buf, wanted)
    except (OSError, ValueError):     # unreadable, empty (mmap of 0 bytes), vanished
        return {}
    return {}


def _pcap(buf: mmap.mmap, magic: int, wanted: set[int]) -> dict[int, tuple[int, int]]:
    endian, _, extra = MAGICS[magic]
    head = struct.Struct(endian + "8xI")        # the captured length of a record header
    size = PCAP_RECORD_HEADER + extra
    last, out = max(wanted), {}
    off, frame, end = PCAP_FILE_HEADER, 0, len(buf)
    while off + size <= end and frame < last:
        length = size + head.unpack_from(buf, off)[0]
        if off + length > end:
            break
        frame += 1
        if frame in wanted:
            out[frame] = (off, length)
        off += length
    return out


def _pcapng(buf: mmap.mmap, wanted: set[int]) -> dict[int, tuple[int, int]]:
    last, out = max(wanted), {}
    off, frame, end, endian = 0, 0, len(buf), "<"
    while off + PCAPNG_BLOCK_HEAD <= end and frame < last:
        if struct.unpack_from("<I", buf, off)[0] == SHB:    # a palindrome: either byte order
            endian = "<" if struct.unpack_from("<I", buf, off + 8)[0] == BYTE_ORDER_MAGIC else ">"
        btype, length = struct.unpack_from(endian + "II", buf, off)
        if length < PCAPNG_BLOCK_HEAD or length % 4 or off + length > end:
            break
        if btype in PACKET_BLOCKS:
            frame += 1
            if frame in wanted:
                out[frame] = (off, length)
        off += length
    return out
