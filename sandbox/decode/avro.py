"""Avro object container files (Kafka Connect, BigQuery and Pub/Sub exports, Hadoop): the records
of every block, decompressed, joined in one view, label "avro".

A block's codec is named once, in the file's header (``avro.codec``): deflate blocks are raw
deflate streams and snappy blocks raw snappy blocks (then a CRC), neither with a magic, and
they sit after a binary header, where no stream decoder looks for them: reads in such a file
replayed clean.  A file cut short gives the blocks that arrived whole, and the cut block's prefix
where its codec streams (deflate, zstandard, bzip2, xz).
"""

from __future__ import annotations

from collections.abc import Iterator

import cramjam

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import decompress, snappy_block, status_label

MAGIC = b"Obj\x01"
SYNC = 16
STREAMS = {"deflate": "deflate", "zstandard": "zstd", "bzip2": "bz2", "xz": "xz"}
SNAPPY_CRC = 4
# Header metadata entries read at most (a header holds a schema, a codec, a few writer's keys).
MAX_METADATA = 4096


class _Cut(Exception):
    """The file ends inside a header or block header."""


def _long(data: bytes, at: int) -> tuple[int, int]:
    """An Avro long (zig-zag varint, at most 10 bytes) at ``at``: (value, next offset)."""
    value = shift = 0
    for i in range(at, min(at + 10, len(data))):
        value |= (data[i] & 0x7F) << shift
        if not data[i] & 0x80:
            return (value >> 1) ^ -(value & 1), i + 1
        shift += 7
    if at + 10 <= len(data):
        raise ValueError("avro: long too long")
    raise _Cut


def _header(data: bytes) -> tuple[str, bytes, int]:
    """(codec, sync marker, offset of the first block) from the file header's metadata map."""
    at, codec, entries = len(MAGIC), "null", 0
    while True:
        count, at = _long(data, at)
        if count == 0:
            break
        if count < 0:  # a negative count is followed by the block's size in bytes
            count = -count
            _, at = _long(data, at)
        for _ in range(count):
            entries += 1
            if entries > MAX_METADATA:
                raise ValueError("avro: metadata too large")
            key_size, at = _long(data, at)
            if key_size < 0:
                raise ValueError("avro: negative length")
            key = data[at: at + key_size]
            value_size, at = _long(data, at + key_size)
            if value_size < 0:
                raise ValueError("avro: negative length")
            if at + value_size > len(data):
                raise _Cut
            if key == b"avro.codec":
                codec = data[at: at + value_size].decode("ascii", "replace")
            at += value_size
    if at + SYNC > len(data):
        raise _Cut
    return codec, data[at: at + SYNC], at + SYNC


def _block(codec: str, body: bytes, cap: int, whole: bool) -> tuple[bytes, str, int]:
    """A block's records within ``cap`` bytes: (bytes, status, the bytes of ``body`` read: a compressed
    stream may end before its block does)."""
    if codec == "null":
        return body[:cap], ("ok" if len(body) <= cap else "limit"), len(body)
    if codec == "snappy":
        if not whole:
            return b"", "truncated", 0
        try:
            out = snappy_block(body[:-SNAPPY_CRC])
        except (ValueError, cramjam.DecompressionError):
            return b"", "corrupt", 0
        return out[:cap], ("ok" if len(out) <= cap else "limit"), len(body)
    if codec in STREAMS:
        got = decompress(STREAMS[codec], body, cap)
        return got.data, got.status, got.end or len(body)
    return b"", "unknown codec", 0


class AvroDecoder(Decoder):
    name = "avro"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(MAGIC) and len(data) > len(MAGIC) + SYNC

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        try:
            codec, sync, at = _header(data)
        except (_Cut, ValueError):
            return
        budget.took(0, len(MAGIC))      # its metadata (the schema, the writer's own keys) is searched with the rest
        budget.took(at - SYNC, at)
        out: list[bytes] = []
        made = read = 0
        status = "ok"
        while at < len(data):
            block = at
            try:
                _, start = _long(data, at)
                size, start = _long(data, start)
            except _Cut:
                status = "truncated"
                break
            except ValueError:
                status = "corrupt"
                break
            if size < 0:
                status = "corrupt"
                break
            whole = start + size <= len(data)
            records, got, used = _block(codec, data[start: start + size], budget.remaining - made, whole)
            out.append(records)
            made += len(records)
            read += min(size, len(data) - start)
            if got == "limit":
                budget.exhausted(left=len(data) - start)
                status = got
                break
            if got != "ok" or not whole:
                status = got if got != "ok" else "truncated"
                break
            at = start + size
            if data[at: at + SYNC] != sync:
                status = "truncated" if len(data) < at + SYNC else "corrupt"
                break
            budget.took(block, start + used)
            budget.took(at, at + SYNC)
            at += SYNC
        budget.inflated += max(0, made - read)
        if made and status != "unknown codec":
            yield status_label("avro", status), b"".join(out)
