"""Zstandard frames (RFC 8878), including concatenated and skippable frames; also inside other
bytes (label "zstd@<offset>")."""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, embedded_streams
from sandbox.decode.codec import ZSTD_MAGIC, zstd_frame

MAGIC = ZSTD_MAGIC
# Frame header descriptor (RFC 8878 3.1.1.1.1): bit 3 is reserved and must be zero.
RESERVED_BIT = 0x08


def _header_ok(data: bytes, at: int) -> bool:
    if at == 0:
        return zstd_frame(data[:4])
    return data[at : at + 4] == MAGIC and len(data) > at + 5 and not data[at + 4] & RESERVED_BIT


class ZstdDecoder(Decoder):
    name = "zstd"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return zstd_frame(data[:4]) or magic.first(data, MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from embedded_streams(data, "zstd", MAGIC, _header_ok, budget, lambda d, at: "zstd")
