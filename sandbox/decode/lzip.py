"""lzip (.lz: LZMA in a container of its own, as GNU and Linux tools write it), members in a row,
also inside other bytes (label "lzip@<offset>").

An lzip member is "LZIP", a version, a coded dictionary size, a raw LZMA stream (fixed properties:
lc 3, lp 0, pb 2) ended by its end-of-stream marker, and a 20-byte trailer (CRC, data size, member
size).  No xz or LZMA-alone reader finds that stream, so a .lz of reads was content the rig could
not read (clean under the opaque-volume threshold).
"""

from __future__ import annotations

import lzma
from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import MAX_EMBEDDED, MIN_EMBEDDED_TRUNCATED, Budget, Decoder
from sandbox.decode.codec import LZIP_MAGIC, Drained, keep, raw_lzma, status_label

MAGIC = LZIP_MAGIC
HEADER = 6
TRAILER = 20
MIN_DICT, MAX_DICT = 1 << 12, 1 << 29  # what lzip(1) writes and reads


def dictionary(coded: int) -> int:
    """The dictionary size a header byte codes: 2^(bits 0-4) less (bits 5-7) sixteenths of it; 0
    when that is outside lzip's range (no member)."""
    base = 1 << (coded & 0x1F)
    size = base - (base >> 4) * (coded >> 5)
    return size if MIN_DICT <= size <= MAX_DICT else 0


def _member_at(data: bytes, at: int) -> bool:
    return data[at: at + len(MAGIC)] == MAGIC and len(data) >= at + HEADER and dictionary(data[at + 5]) > 0


def _members(data: bytes, at: int, cap: int) -> tuple[Drained, int]:
    """The members in a row from ``at``, as one output of at most ``cap`` bytes; and where they end."""
    start, out, made = at, [], 0
    while _member_at(data, at):
        params = {"id": lzma.FILTER_LZMA1, "lc": 3, "lp": 0, "pb": 2, "dict_size": dictionary(data[at + 5])}
        got = raw_lzma([params], memoryview(data)[at + HEADER:], cap - made, cap - made)
        out.append(got.data)
        made += len(got.data)
        if not got.members:  # no end marker: stopped by the cap, damaged, or cut short
            status = "limit" if made >= cap else "corrupt" if got.status == "corrupt" else "truncated"
            read = len(data) - start if status != "limit" else 0
            return Drained(b"".join(out), status, read=read), len(data)
        at = min(len(data), at + HEADER + got.end + TRAILER)
    return Drained(b"".join(out), "ok", end=at - start, read=at - start), at


class LzipDecoder(Decoder):
    name = "lzip"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        at = magic.first(data, MAGIC)
        tried = 0
        while at >= 0 and tried < MAX_EMBEDDED and budget.remaining > 0:
            if not _member_at(data, at):
                at = magic.find(data, MAGIC, at + 1)
                continue
            tried += 1
            got, end = _members(data, at, budget.remaining)
            if got.status == "limit":
                budget.exhausted(left=len(data) - at)
            budget.inflated += max(0, len(got.data) - got.read)
            cut = got.status in ("truncated", "corrupt")
            if len(got.data) >= MIN_EMBEDDED_TRUNCATED if at and cut else keep(got):
                yield status_label("lzip" + (f"@{at}" if at else ""), got.status), got.data
            if got.status == "limit":
                return
            at = magic.find(data, MAGIC, max(end, at + 1))
