"""Microsoft cabinet files (Windows Error Reporting and diagnostics bundles, makecab, gcab): every
file of the MSZIP folders, label "cab:<name>".

An MSZIP folder is a run of data blocks, each "CK" and a deflate stream of at most 32 KiB that may
refer back into the block before it: no gzip or zlib header, inside a binary header, so no stream
decoder finds them, and a cabinet of reads from a Windows control PC replayed clean.  Blocks are
inflated in order, each with the last 32 KiB before it as its dictionary, and the folder's bytes are
cut into the files the cabinet lists.  A cabinet cut short gives the blocks that arrived whole.
Folders stored as is are already in the view; LZX and Quantum folders are said not read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import ZLIB_ERRORS, status_label

MAGIC = b"MSCF\x00\x00\x00\x00"
_HEADER = struct.Struct("<4sIIIIIBBHHHHH")  # CFHEADER up to iCabinet
_FOLDER = struct.Struct("<IHH")  # coffCabStart, cCFData, typeCompress
_FILE = struct.Struct("<IIHHHH")  # cbFile, uoffFolderStart, iFolder, date, time, attribs
_DATA = struct.Struct("<IHH")  # csum, cbData, cbUncomp
RESERVE_PRESENT, PREV_CABINET, NEXT_CABINET = 0x4, 0x1, 0x2
STORED, MSZIP = 0, 1
COMPRESSIONS = {2: "Quantum", 3: "LZX"}  # typeCompress's low nibble
BLOCK = 32768  # an MSZIP block's output at most, and its deflate window
MAX_NAME = 1024
# A cabinet lists at most 65535 folders and files (16-bit counts): read them all, bounded by its bytes.


@dataclass(slots=True)
class _Folder:
    start: int
    blocks: int
    compression: int


@dataclass(slots=True)
class _File:
    name: str
    size: int
    offset: int
    folder: int


def _string(data: bytes, at: int) -> tuple[bytes, int]:
    end = data.find(b"\x00", at, at + MAX_NAME)
    if end < 0:
        raise ValueError("cab: name not ended")
    return data[at:end], end + 1


def _layout(data: bytes, budget: Budget) -> tuple[list[_Folder], list[_File], int]:
    """Folders, files and the reserve bytes of each data block, from the header; its fields are said
    taken apart (reserve areas, the application's own bytes, are not)."""
    head = _HEADER.unpack_from(data)
    files_at, folders, files, flags = head[4], head[8], head[9], head[10]
    at = _HEADER.size
    budget.took(0, at)
    folder_reserve = data_reserve = 0
    if flags & RESERVE_PRESENT:
        header_reserve, folder_reserve, data_reserve = struct.unpack_from("<HBB", data, at)
        budget.took(at, at + 4)
        at += 4 + header_reserve
    for flag in (PREV_CABINET, NEXT_CABINET):
        if flags & flag:
            start = at
            _, at = _string(data, at)
            _, at = _string(data, at)
            budget.took(start, at)
    listed = []
    for _ in range(folders):
        listed.append(_Folder(*_FOLDER.unpack_from(data, at)))
        budget.took(at, at + _FOLDER.size)
        at += _FOLDER.size + folder_reserve
    named = []
    at = files_at
    for _ in range(files):
        size, offset, folder, *_ = _FILE.unpack_from(data, at)
        start = at
        name, at = _string(data, at + _FILE.size)
        budget.took(start, at)
        named.append(_File(name.decode("utf-8", "replace"), size, offset, folder))
    return listed, named, data_reserve


@dataclass(slots=True)
class _Inflated:
    content: bytes
    status: str
    read: int  # compressed bytes the content came from
    blocks: int  # data blocks walked


def _folder_bytes(data: bytes, folder: _Folder, reserve: int, budget: Budget, blocks: int) -> _Inflated:
    """A folder's uncompressed bytes, within ``budget``, from at most ``blocks`` of its data blocks
    (each said taken apart but its reserve bytes)."""
    cap = budget.remaining
    out = bytearray()
    at = folder.start
    read = walked = 0

    def done(status: str) -> _Inflated:
        return _Inflated(bytes(out), status, read, walked)

    limit = min(folder.blocks, blocks)
    while walked < limit:
        walked += 1
        if at + _DATA.size + reserve > len(data):
            return done("truncated")
        _, packed, plain = _DATA.unpack_from(data, at)
        budget.took(at, at + _DATA.size)
        at += _DATA.size + reserve
        body = data[at: at + packed]
        if len(body) < packed:
            return done("truncated")
        at += packed
        if plain > BLOCK:
            return done("corrupt")
        if len(out) + plain > cap:
            return done("limit")
        read += packed
        used = min(plain, packed)   # the block's bytes read (a stored block's, its first ``plain``)
        if folder.compression == MSZIP and plain:
            if not body.startswith(b"CK"):
                return done("corrupt")
            window = bytes(out[-BLOCK:])
            inflate = zlib.decompressobj(-15, zdict=window) if window else zlib.decompressobj(-15)
            try:
                out += inflate.decompress(body[2:], plain)
            except ZLIB_ERRORS:
                return done("corrupt")
            used = packed - len(inflate.unused_data) - len(inflate.unconsumed_tail)
        elif folder.compression == STORED:
            out += body[:plain]
        budget.took(at - packed, at - packed + used)
    return done("ok" if walked == folder.blocks else "overlap")


def _folder_size(data: bytes, folder: _Folder, reserve: int) -> int:
    """The bytes a folder's data blocks take in ``data`` (those present), walking their headers."""
    at = folder.start
    for _ in range(folder.blocks):
        if at + _DATA.size + reserve > len(data):
            break
        at += _DATA.size + reserve + _DATA.unpack_from(data, at)[1]
    return max(0, min(at, len(data)) - folder.start)


class CabDecoder(Decoder):
    name = "cab"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(MAGIC) and len(data) >= _HEADER.size

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        try:
            folders, files, reserve = _layout(data, budget)
        except (struct.error, ValueError):
            budget.not_read("cabinet whose header the rig cannot read", len(data))
            return
        by_folder: dict[int, list[_File]] = {}
        for f in files:
            by_folder.setdefault(f.folder, []).append(f)
        # Each data block takes eight bytes of the file at least: folders that walk more blocks than
        # that between them overlap (a crafted cabinet would have them re-read the same bytes).
        blocks = len(data) // _DATA.size
        for index, folder in enumerate(folders):
            if folder.compression & 0x0F not in (STORED, MSZIP):
                method = COMPRESSIONS.get(folder.compression & 0x0F, f"method {folder.compression & 0x0F}")
                if size := _folder_size(data, folder, reserve):
                    budget.took(folder.start, folder.start + size)
                    budget.not_read(f"cabinet folder compressed with {method}, which the rig does not read", size)
                continue
            folder.compression &= 0x0F
            got = _folder_bytes(data, folder, reserve, budget, blocks)
            blocks -= got.blocks
            content, status = got.content, got.status
            budget.inflated += max(0, len(content) - got.read)
            if status in ("limit", "overlap"):
                budget.exhausted("cabinet folders overlap" if status == "overlap" else None, len(data) - folder.start)
            listed = [f for f in by_folder.get(index, []) if f.offset < len(content)]
            if not listed and content:
                yield status_label(f"cab:folder {index}", status), content
            for f in listed:
                piece = content[f.offset: f.offset + f.size]
                if piece:
                    yield status_label(f"cab:{f.name}", status if f.offset + f.size > len(content) else "ok"), piece
            if status == "limit":
                return
