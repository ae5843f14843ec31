"""Apache Parquet files: each column's pages decompressed and joined, label "parquet:<column>".

Parquet compresses page by page with codecs that leave no magic in the page (snappy, what
pandas and Spark write by default; LZ4 raw; Hadoop's LZ4 framing), so no stream decoder finds
them inside the file: reads in a snappy Parquet table were only partly visible.  The footer
(Thrift compact protocol) names each column chunk's codec and where its pages start; a file cut
before its footer (an upload cut by the capture, a file still being written) is walked page by
page from its start, each page's codec told by its bytes.  Encrypted files ("PARE") stay opaque.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cramjam
import lz4.block

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import decompress, snappy_block, snappy_declared, status_label

MAGIC = b"PAR1"
UNCOMPRESSED, SNAPPY, GZIP, LZO, BROTLI, LZ4_HADOOP, ZSTD, LZ4_RAW = range(8)
CODECS = {GZIP: "gzip", BROTLI: "brotli", ZSTD: "zstd"}  # through the codec layer
DATA_PAGE_V2 = 3
MIN_FILE = 12  # magic, a footer length, magic
# Thrift structures nest a few levels deep (FileMetaData > RowGroup > ColumnChunk > ColumnMetaData
# > Statistics); a footer nesting deeper is not one, and its parse stops there.
MAX_DEPTH = 12
# Values the footer parse builds at most (a wide table's footer holds a few per column chunk).
MAX_VALUES = 1 << 20
# A page header is at most this long (statistics included): longer is not a page.
MAX_PAGE_HEADER = 1 << 16
# Pages read from one file: a real one's are kilobytes to a megabyte each; a crafted run of empty
# page headers (seven bytes each) cost a second per MB before this bound.
MAX_PAGES = 1 << 16
# Hadoop's LZ4 framing: big-endian uncompressed and compressed sizes before each block.
HADOOP_PREFIX = 8
PAGE_ERRORS = (ValueError, lz4.block.LZ4BlockError, cramjam.DecompressionError)


class ThriftError(ValueError):
    pass


class _Compact:
    """Thrift's compact protocol, read generically: a struct is a dict of field id to value."""

    def __init__(self, data: bytes | memoryview, at: int = 0) -> None:
        self.data = data
        self.at = at
        self.values = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise ThriftError("truncated")
        self.at += 1
        return self.data[self.at - 1]

    def varint(self) -> int:
        value = shift = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ThriftError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int, depth: int) -> Any:
        self.values += 1
        if self.values > MAX_VALUES or depth > MAX_DEPTH:
            raise ThriftError("too large")
        if kind in (1, 2):  # booleans in a struct: the type is the value
            return kind == 1
        if kind == 3:
            return self.byte()
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            self.at += 8
            return None
        if kind == 8:
            n = self.varint()
            if self.at + n > len(self.data):
                raise ThriftError("truncated")
            self.at += n
            return bytes(self.data[self.at - n: self.at])
        if kind in (9, 10):
            head = self.byte()
            n, elem = head >> 4, head & 0x0F
            if n == 15:
                n = self.varint()
            if n > len(self.data) - self.at + 1:
                raise ThriftError("list longer than its bytes")
            if elem in (1, 2):
                return [self.byte() == 1 for _ in range(n)]
            return [self.value(elem, depth + 1) for _ in range(n)]
        if kind == 11:
            n = self.varint()
            if not n:
                return {}
            types = self.byte()
            if n > len(self.data) - self.at:
                raise ThriftError("map longer than its bytes")
            return {self._key(self.value(types >> 4, depth + 1)): self.value(types & 0x0F, depth + 1)
                    for _ in range(n)}
        if kind == 12:
            return self.struct(depth + 1)
        raise ThriftError(f"type {kind}")

    @staticmethod
    def _key(key: Any) -> Any:
        return key if isinstance(key, (int, bytes, bool)) or key is None else repr(key)

    def struct(self, depth: int = 0) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self.zigzag()
            fields[last] = self.value(kind, depth)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(slots=True)
class _Chunk:
    column: str
    codec: int | None  # None: told page by page
    start: int
    end: int


def _footer_chunks(data: bytes) -> list[_Chunk] | None:
    """Column chunks the footer lists, in file order; None when there is no readable footer."""
    if len(data) < MIN_FILE or not data.endswith(MAGIC):
        return None
    size = int.from_bytes(data[-8:-4], "little")
    if size > len(data) - MIN_FILE:
        return None
    try:
        meta = _Compact(data, len(data) - 8 - size).struct()
    except ThriftError:
        return None
    chunks = []
    for group in _list(meta.get(4)):
        for column in _list(group.get(1)) if isinstance(group, dict) else []:
            info = column.get(3) if isinstance(column, dict) else None
            if not isinstance(info, dict):
                continue
            path = b".".join(p for p in _list(info.get(3)) if isinstance(p, bytes)).decode("utf-8", "replace")
            starts = [at for at in (info.get(11), info.get(9)) if isinstance(at, int) and at > 0]
            length = info.get(7)
            if not starts or not isinstance(length, int) or length <= 0:
                continue
            start = min(starts)
            codec = info.get(4) if isinstance(info.get(4), int) else None
            chunks.append(_Chunk(path or "?", codec, start, min(len(data), start + length)))
    chunks.sort(key=lambda c: c.start)
    apart = []  # chunks overlapping an earlier one are not read again: each byte is walked once
    for chunk in chunks:
        if not apart or chunk.start >= apart[-1].end:
            apart.append(chunk)
    return apart


def _lz4_hadoop(body: bytes, size: int) -> bytes:
    """Hadoop's LZ4 framing: blocks, each after its big-endian uncompressed and compressed sizes."""
    out, at = [], 0
    total = 0
    while at + HADOOP_PREFIX <= len(body):
        plain = int.from_bytes(body[at: at + 4], "big")
        packed = int.from_bytes(body[at + 4: at + 8], "big")
        at += HADOOP_PREFIX
        if total + plain > size or at + packed > len(body):
            raise ValueError("lz4: block larger than its page")
        out.append(lz4.block.decompress(body[at: at + packed], uncompressed_size=plain))
        total += plain
        at += packed
    if at != len(body) or total != size:
        raise ValueError("lz4: not Hadoop framing")
    return b"".join(out)


def _guesses(body: bytes, size: int) -> list[int]:
    """Codecs a page of a file without its footer may have, from its bytes, likeliest first."""
    if len(body) == size:
        return [UNCOMPRESSED]
    if snappy_declared(body)[0] == size:
        return [SNAPPY]
    if body[:3] == b"\x1f\x8b\x08":
        return [GZIP]
    if body[:4] == b"\x28\xb5\x2f\xfd":
        return [ZSTD]
    return [LZ4_HADOOP, BROTLI] if int.from_bytes(body[:4], "big") <= size else [LZ4_RAW, BROTLI]


def _inflate(codec: int, body: bytes, size: int) -> bytes:
    """A page's values, ``size`` bytes decompressed; ValueError (or the library's error) when the
    page is not what its codec says."""
    if codec == UNCOMPRESSED:
        out = body
    elif codec == SNAPPY:
        out = snappy_block(body)
    elif codec == LZ4_RAW:
        out = lz4.block.decompress(body, uncompressed_size=size)
    elif codec == LZ4_HADOOP:
        try:
            out = _lz4_hadoop(body, size)
        except (ValueError, lz4.block.LZ4BlockError):  # writers before the framing was fixed: raw
            out = lz4.block.decompress(body, uncompressed_size=size)
    elif codec in CODECS:
        got = decompress(CODECS[codec], body, size)
        if got.status not in ("ok", "limit"):
            raise ValueError(f"{CODECS[codec]}: {got.status}")
        out = got.data
    else:
        raise ValueError("codec not read (LZO)")
    if len(out) != size:
        raise ValueError("page shorter than declared")
    return out


def _page(codec: int | None, body: bytes, size: int) -> bytes:
    """A page decompressed by its chunk's codec, or by the first its bytes allow (no footer)."""
    if codec is not None:
        return _inflate(codec, body, size)
    *guesses, last = _guesses(body, size)
    for guess in guesses:
        try:
            return _inflate(guess, body, size)
        except PAGE_ERRORS:
            continue
    return _inflate(last, body, size)


@dataclass(slots=True)
class _Walked:
    pages: list[bytes]
    status: str = "ok"
    read: int = 0  # compressed bytes the pages came from
    left: int = 0  # bytes of the chunk left undecoded when the budget stopped it
    why: str | None = None  # the limit that stopped it, when not the budget
    bodies: list[tuple[int, int]] = field(default_factory=list)  # where the pages read lie in the file


def _pages(data: bytes, chunk: _Chunk, budget: int, most: int) -> _Walked:
    """The decompressed pages of one column chunk within ``budget`` bytes, ``most`` of them."""
    walked = _Walked([])
    pages = walked.pages
    at, used = chunk.start, 0
    view = memoryview(data)
    while at < chunk.end:
        if len(pages) >= most:
            walked.status, walked.left, walked.why = "limit", chunk.end - at, f"{MAX_PAGES} pages"
            return walked
        reader = _Compact(view[at: at + MAX_PAGE_HEADER])
        try:
            header = reader.struct()
        except ThriftError:
            walked.status = "truncated" if at + reader.at >= len(data) else "corrupt"
            return walked
        size, packed = header.get(2), header.get(3)
        if not isinstance(size, int) or not isinstance(packed, int) or size < 0 or packed < 0:
            walked.status = "corrupt"
            return walked
        body_at = at + reader.at
        if body_at + packed > len(data):
            walked.status = "truncated"
            return walked
        if used + size > budget:
            walked.status, walked.left = "limit", chunk.end - at
            return walked
        body = data[body_at: body_at + packed]
        levels, compressed = b"", True
        v2 = header.get(8)
        if header.get(1) == DATA_PAGE_V2 and isinstance(v2, dict):  # levels stay uncompressed
            n = sum(v for v in (v2.get(5), v2.get(6)) if isinstance(v, int) and v > 0)
            levels, body, size = body[:n], body[n:], size - n
            compressed = v2.get(7) is not False
        try:
            page = _page(chunk.codec, body, size) if compressed else body
        except PAGE_ERRORS:
            walked.status = "corrupt"
            return walked
        pages.append(levels + page)
        walked.bodies.append((body_at, body_at + packed))
        used += len(levels) + len(page)
        walked.read += packed
        at = body_at + packed
    return walked


class ParquetDecoder(Decoder):
    name = "parquet"
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(MAGIC) and len(data) > len(MAGIC)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        chunks = _footer_chunks(data)
        if not chunks:  # no footer: the pages in a row from the start, codecs told by their bytes
            chunks = [_Chunk("?", None, len(MAGIC), len(data))]
        columns: dict[str, list[bytes]] = {}
        statuses: dict[str, str] = {}
        room = budget.remaining
        made = read = 0
        pages_left = MAX_PAGES
        for chunk in chunks:
            if chunk.codec == LZO:
                budget.not_read("Parquet column chunk compressed with LZO, which the rig does not read",
                                max(0, min(chunk.end, len(data)) - chunk.start))
                budget.took(chunk.start, chunk.end)
                continue
            walked = _pages(data, chunk, room, pages_left)
            # the pages' bodies are the file's; its page headers and footer (statistics, key-value
            # metadata: the writer's own strings) are searched with the rest
            for body in walked.bodies:
                budget.took(*body)
            pages_left -= len(walked.pages)
            columns.setdefault(chunk.column, []).extend(walked.pages)
            made += sum(map(len, walked.pages))
            read += walked.read
            room = budget.remaining - made
            if walked.status != "ok":
                statuses.setdefault(chunk.column, walked.status)
            if walked.status == "limit":
                budget.exhausted(walked.why, walked.left)
                break
        budget.inflated += max(0, made - read)
        for column, pages in columns.items():
            if pages:
                yield status_label(f"parquet:{column}", statuses.get(column, "ok")), b"".join(pages)
