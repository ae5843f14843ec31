"""lzip (.lz: LZMA in a container of its own, as GNU and Linux tools write it), members in a row,
also inside other bytes (label "lzip@<offset>").

No xz or LZMA-alone reader finds an lzip member's raw LZMA stream, so a .lz of reads was content
the rig could not read (clean under the opaque-volume threshold).  The members are decoded by the
codec layer (``codec.LzipCodec``).
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, embedded_streams
from sandbox.decode.codec import LZIP_MAGIC, lzip_member

MAGIC = LZIP_MAGIC


class LzipDecoder(Decoder):
    name = "lzip"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from embedded_streams(data, "lzip", MAGIC, lzip_member, budget, lambda d, at: "lzip")
