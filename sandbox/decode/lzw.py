"""compress(1)'s LZW (.Z files: old Unix tools, instrument PCs running them, HTTP's "compress"
coding), also inside other bytes (label "lzw@<offset>").

Its output looks like any compressed data (the rig weighed it as content it could not read, so an
upload of reads under the opaque-volume threshold replayed clean), and its magic is two bytes: a
stream is taken where the third byte is a header (code widths of 9 to 16 bits, reserved bits
clear), and one inside other bytes is kept from 1 KiB of output (random bytes after a chance
header end at a code out of the table after a few hundred).
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, embedded_streams
from sandbox.decode.codec import LZW_MAGIC, lzw_header

MAGIC = LZW_MAGIC


def _header_ok(data: bytes, at: int) -> bool:
    return lzw_header(data[at: at + 3])


class LzwDecoder(Decoder):
    name = "lzw"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from embedded_streams(data, "lzw", MAGIC, _header_ok, budget, lambda d, at: "lzw")
