"""zlib streams (RFC 1950): HTTP "deflate", PNG/PDF streams, many SDKs' compress()."""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import keep, status_label


class ZlibDecoder(Decoder):
    name = "zlib"

    @staticmethod
    def sniff(data: bytes) -> bool:
        # CMF: method 8, window <= 32 KiB; FLG: no preset dictionary; header is a multiple of 31.
        if len(data) < 3:
            return False
        cmf, flg = data[0], data[1]
        return cmf & 0x0F == 8 and cmf >> 4 <= 7 and not flg & 0x20 and (cmf << 8 | flg) % 31 == 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        got = drain("zlib", data, budget)
        if keep(got):
            yield status_label("zlib", got.status), got.data
