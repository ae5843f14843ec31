"""Apache ORC files (Hive, Spark, Trino): every compressed chunk decoded and joined, label "orc".

ORC compresses each stream (data, indexes, stripe footers, the file footer) in chunks, each after a
3-byte header (its length and whether it is stored as is); zlib chunks are raw deflate, snappy and
LZ4 chunks raw blocks, none with a magic, so no stream decoder finds them.  The chunks lie end to
end from the file's start to its postscript, which names the codec: the file is read as that run
of chunks.  A file cut before its postscript is read the same way, each chunk's codec told by its
bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import cramjam
import lz4.block

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import ZSTD_MAGIC, decompress, snappy_block, snappy_declared, status_label

MAGIC = b"ORC"
NONE, ZLIB, SNAPPY, LZO, LZ4, ZSTD = range(6)
HEADER = 3
# compressionBlockSize: 256 KiB by default; a chunk decompresses to at most that.  Larger sizes
# than this are not taken from a postscript (nor is a chunk allowed to grow past it).
MAX_BLOCK = 1 << 24
DEFAULT_BLOCK = 256 * 1024
CHUNK_ERRORS = (ValueError, zlib.error, lz4.block.LZ4BlockError, cramjam.DecompressionError)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 64:
        value |= (data[at] & 0x7F) << shift
        at += 1
        if not data[at - 1] & 0x80:
            return value, at
        shift += 7
    raise ValueError("orc: varint")


def _postscript(data: bytes) -> tuple[int, int, int] | None:
    """(codec, block size, where the chunks end) from the postscript; None without one."""
    if len(data) < HEADER + 2:
        return None
    size = data[-1]
    ps = data[-1 - size: -1]
    if len(ps) != size or not ps.endswith(MAGIC):
        return None
    fields: dict[int, int] = {}
    at = 0
    try:
        while at < len(ps):
            key, at = _varint(ps, at)
            number, kind = key >> 3, key & 7
            if kind == 0:
                fields[number], at = _varint(ps, at)
            elif kind == 2:
                length, at = _varint(ps, at)
                at += length
            else:
                return None
    except ValueError:
        return None
    block = fields.get(3, DEFAULT_BLOCK)
    if fields.get(2, NONE) > ZSTD or not 0 < block <= MAX_BLOCK:
        return None
    return fields.get(2, NONE), block, len(data) - 1 - size  # the footer and metadata are chunks too


def _guesses(body: bytes, block: int) -> list[int]:
    """A chunk's possible codecs from its bytes, likeliest first (a file without its postscript)."""
    if body.startswith(ZSTD_MAGIC):
        return [ZSTD]
    declared, head = snappy_declared(body)
    if 0 < declared <= block and head < len(body) and body[head] & 3 == 0:
        return [SNAPPY, ZLIB, LZ4]
    return [ZLIB, LZ4]


def _guessed(body: bytes, block: int) -> bytes:
    *guesses, last = _guesses(body, block)
    for codec in guesses:
        try:
            return _chunk(codec, body, block)
        except CHUNK_ERRORS:
            continue
    return _chunk(last, body, block)


def _chunk(codec: int, body: bytes, block: int) -> bytes:
    if codec == ZLIB:
        d = zlib.decompressobj(-15)
        out = d.decompress(body, block)
        if not d.eof:
            raise ValueError("orc: zlib chunk not ended")
        return out
    if codec == SNAPPY:
        return snappy_block(body)
    if codec == LZ4:
        return lz4.block.decompress(body, uncompressed_size=block)
    if codec == ZSTD:
        got = decompress("zstd", body, block)
        if got.status != "ok":
            raise ValueError(f"orc: zstd {got.status}")
        return got.data
    raise ValueError("orc: codec not read (LZO)")


class OrcDecoder(Decoder):
    name = "orc"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(MAGIC) and len(data) > HEADER + HEADER

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = _postscript(data)
        codec, block, end = found if found else (None, DEFAULT_BLOCK, len(data))
        if codec == NONE:  # stored as is: the bytes are already in the view
            return
        if codec == LZO:
            budget.not_read("ORC file compressed with LZO, which the rig does not read", end - HEADER)
            return
        out: list[bytes] = []
        at, made, read = HEADER, 0, 0
        status = "ok"
        while at + HEADER <= end:
            head = int.from_bytes(data[at: at + HEADER], "little")
            original, length = head & 1, head >> 1
            body = data[at + HEADER: at + HEADER + length]
            if at + HEADER + length > end:
                status = "truncated" if found is None else "corrupt"
                break
            try:
                chunk = body if original else _chunk(codec, body, block) if codec is not None else _guessed(body, block)
            except CHUNK_ERRORS:
                status = "corrupt"
                break
            if len(chunk) > block:
                status = "corrupt"
                break
            if made + len(chunk) > budget.remaining:
                budget.exhausted(left=len(data) - at)
                status = "limit"
                break
            out.append(chunk)
            made += len(chunk)
            read += length
            at += HEADER + length
        budget.inflated += max(0, made - read)
        budget.took(0, at)     # the chunks walked (after them: the postscript, or bytes that are no chunk)
        if found:
            budget.took(end, len(data))
        if made:
            yield status_label("orc", status), b"".join(out)
