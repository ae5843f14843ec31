"""LZ4 frames (lz4 tool, python-lz4, Arrow IPC and Feather buffers), concatenated and skippable
frames included; also inside other bytes (label "lz4@<offset>").

LZ4 spends no bits on entropy coding: reads compressed with it are short runs of letters between
back-references, too chopped for k-mers and too regular to look like ciphertext.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, embedded_streams
from sandbox.decode.codec import LZ4_MAGIC, lz4_frame

MAGIC = LZ4_MAGIC


def _header_ok(data: bytes, at: int) -> bool:
    """The frame descriptor's fixed bits: version 01 and a reserved bit in FLG, a block size of
    64 KiB to 4 MiB and reserved bits in BD."""
    if at == 0 and not data.startswith(MAGIC):
        return lz4_frame(data[:4])
    if data[at : at + 4] != MAGIC or len(data) < at + 7:
        return False
    flg, bd = data[at + 4], data[at + 5]
    return flg & 0xC2 == 0x40 and bd & 0x8F == 0 and bd >> 4 >= 4


class Lz4Decoder(Decoder):
    name = "lz4"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return lz4_frame(data[:4]) or magic.first(data, MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from embedded_streams(data, "lz4", MAGIC, _header_ok, budget, lambda d, at: "lz4")
