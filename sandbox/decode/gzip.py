"""gzip (RFC 1952), including multi-member files and BGZF (BAM, bgzipped FASTQ/VCF).

A gzip stream may also sit inside other bytes (a custom binary protocol: a header, then a
gzip'd JSON); those are found by their magic and labelled "gzip@<offset>".
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder, mark
from sandbox.decode.stream import inflate, keep

MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 and CM=deflate, the only method in use
RESERVED_FLAGS = 0xE0  # FLG bits 5-7 must be zero (RFC 1952 2.3.1)
GZIP_WBITS = 31  # zlib: 16 + 15 = gzip header and trailer, 32 KiB window
# Candidate streams tried at offsets > 0: the magic occurs by chance about once per 16 MiB of
# random bytes, and a framing protocol rarely packs more streams than this into one payload.
MAX_EMBEDDED = 16
# An embedded candidate cut by the end of the payload counts from this much output: after a
# chance magic, random bytes inflate a few hundred bytes at most.
MIN_EMBEDDED_TRUNCATED = 1024


def _member(head: bytes) -> bool:
    return head[:3] == MAGIC


def is_bgzf(data: bytes) -> bool:
    """BGZF: FEXTRA with XLEN 6 and the "BC" subfield (SAM spec 4.1)."""
    return len(data) >= 18 and data[3] & 4 == 4 and data[10:12] == b"\x06\x00" and data[12:14] == b"BC"


def _header_ok(data: bytes, at: int) -> bool:
    return data[at : at + 3] == MAGIC and len(data) > at + 10 and not data[at + 3] & RESERVED_FLAGS


class GzipDecoder(Decoder):
    name = "gzip"
    embedded = True  # also searched for inside other bytes

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.find(MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        at = 0 if _header_ok(data, 0) else data.find(MAGIC, 1)
        tried = 0
        while at >= 0 and tried < MAX_EMBEDDED and budget.remaining > 0:
            tried += 1
            if not _header_ok(data, at):
                at = data.find(MAGIC, at + 1)
                continue
            stream = memoryview(data)[at:] if at else data
            got = inflate(stream, GZIP_WBITS, budget.remaining, next_member=_member)
            if got.status == "limit":
                budget.exhausted()
            label = ("bgzf" if is_bgzf(data[at : at + 18]) else "gzip") + (f"@{at}" if at else "")
            if at and got.status in ("truncated", "corrupt"):
                wanted = len(got.data) >= MIN_EMBEDDED_TRUNCATED
            else:
                wanted = keep(got)
            if wanted:
                yield mark(label, got.status), got.data
            if got.status == "limit":
                return
            at = data.find(MAGIC, at + max(1, got.end))
