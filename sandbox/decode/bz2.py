"""bzip2 streams, including concatenated streams (pbzip2, lbzip2 output); also inside other bytes
(label "bz2@<offset>")."""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, embedded_streams
from sandbox.decode.codec import BZ2_MAGIC, BZ2_STREAM

MAGIC = BZ2_MAGIC


def _header_ok(data: bytes, at: int) -> bool:
    return BZ2_STREAM.match(data, at) is not None


class Bz2Decoder(Decoder):
    name = "bz2"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from embedded_streams(data, "bz2", MAGIC, _header_ok, budget, lambda d, at: "bz2")
