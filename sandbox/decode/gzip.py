"""gzip (RFC 1952), including multi-member files and BGZF (BAM, bgzipped FASTQ/VCF).

A gzip stream may also sit inside other bytes (a custom binary protocol: a header, then a
gzip'd JSON); those are found by their magic and labelled "gzip@<offset>".  A member's extra field of
32 bytes or more is a view of its own ("gzip extra field").
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, embedded_streams
from sandbox.decode.codec import GZIP_MAGIC, Drained

MAGIC = GZIP_MAGIC
RESERVED_FLAGS = 0xE0  # FLG bits 5-7 must be zero (RFC 1952 2.3.1)


def is_bgzf(data: bytes) -> bool:
    """BGZF: FEXTRA with XLEN 6 and the "BC" subfield (SAM spec 4.1)."""
    return len(data) >= 18 and data[3] & 4 == 4 and data[10:12] == b"\x06\x00" and data[12:14] == b"BC"


def _header_ok(data: bytes, at: int) -> bool:
    return data[at : at + 3] == MAGIC and len(data) > at + 10 and not data[at + 3] & RESERVED_FLAGS


def _label(data: bytes, at: int) -> str:
    return "bgzf" if is_bgzf(data[at : at + 18]) else "gzip"


class GzipDecoder(Decoder):
    name = "gzip"
    embedded = True  # also searched for inside other bytes

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from embedded_streams(data, "gzip", MAGIC, _header_ok, budget, _label, beside=_extras)


def _extras(label: str, got: Drained) -> Iterator[tuple[str, bytes]]:
    """Its members' long extra fields (bytes no decompression outputs: a gzip of reads in one replayed
    clean), a view each."""
    return ((f"{label} extra field", extra) for extra in got.extras)
