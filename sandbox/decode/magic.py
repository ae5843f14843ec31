"""Where the container and stream magics first occur in a view: one pass for all of them.

Ten decoders (zip, gzip, zstd, xz, bz2, lz4, lzip, compress's LZW, RAR's recogniser, and snappy in
two framings) look for their magic anywhere in a view, not only at its start.  Eleven ``bytes.find``
misses over random bytes cost eleven passes; the compiled ``first_of`` finds all eleven in one (SSE2
tests 16 positions at a time against each magic's first two bytes), linear on any input.  The answer
is kept for the view being sniffed (every sniffer asks about the same bytes object in turn; the
expander drops it when it moves on).
"""

from __future__ import annotations

import numpy as np

from sandbox.decode.codec import (
    BZ2_MAGIC,
    GZIP_MAGIC,
    LZ4_MAGIC,
    LZIP_MAGIC,
    LZW_MAGIC,
    SNAPPY_MAGIC,
    XERIAL_MAGIC,
    XZ_MAGIC,
    ZSTD_MAGIC,
)
from sandbox.index import _kernels

ZIP_LOCAL = b"PK\x03\x04"
RAR = b"Rar!\x1a\x07"  # found for the unreadable decoder (sandbox.decode.unreadable)
# At most sixteen: the kernel's MAX_NEEDLES.
MAGICS = (ZIP_LOCAL, GZIP_MAGIC, ZSTD_MAGIC, XZ_MAGIC, BZ2_MAGIC, LZ4_MAGIC, SNAPPY_MAGIC, XERIAL_MAGIC, LZW_MAGIC,
          LZIP_MAGIC, RAR)
_cache: tuple[bytes, dict[bytes, int]] | None = None
LOCATE_BY_FIND = 1 << 16  # below this, calling the kernel costs more than the search


def _scan(data: bytes) -> dict[bytes, int]:
    """First offset of every magic in ``data`` (-1 when absent)."""
    out = np.empty(len(MAGICS), dtype=np.int64)
    _kernels.first_of(data, MAGICS, 0, out)
    return dict(zip(MAGICS, out.tolist(), strict=True))


def forget() -> None:
    """Drop the kept scan (and the view it holds): the expander calls this after each view."""
    global _cache
    _cache = None


def first(data: bytes, magic: bytes) -> int:
    """``data.find(magic)`` for one of MAGICS, from one shared scan of ``data``."""
    global _cache
    if _cache is None or _cache[0] is not data:
        _cache = (data, _scan(data))
    return _cache[1][magic]


def find(data: bytes, magic: bytes, start: int = 0) -> int:
    """``data.find(magic, start)``: the shared scan answers the first, the kernel the others."""
    at = first(data, magic)
    if at < 0 or at >= start:
        return at
    return locate(data, magic, start)


def locate(data: bytes, needle: bytes, start: int = 0) -> int:
    """``data.find(needle, start)`` by the kernel, for any needle: five to ten times bytes.find's
    speed on large views (a candidate needs the needle's first two bytes); small ones by find."""
    if len(data) - start < LOCATE_BY_FIND:
        return data.find(needle, start)
    out = np.empty(1, dtype=np.int64)
    _kernels.first_of(data, (needle,), start, out)
    return int(out[0])
