"""xz (including concatenated streams, also inside other bytes: "xz@<offset>") and legacy .lzma
("LZMA alone") data, which has no magic and is only read at the start of a view."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, drain, embedded_streams
from sandbox.decode.codec import XZ_MAGIC, keep, status_label

# LZMA alone: properties byte (lc=3 lp=0 pb=2 is what every encoder writes by default), a
# dictionary size, then the uncompressed size (-1 when unknown).
LZMA_PROPS = 0x5D
MIN_DICT, MAX_DICT = 1 << 12, 1 << 30
MAX_DECLARED = 1 << 40  # uncompressed size field: anything larger is not a real .lzma header


def _lzma_alone(data: bytes) -> bool:
    if len(data) < 13 or data[0] != LZMA_PROPS:
        return False
    dict_size, declared = struct.unpack_from("<IQ", data, 1)
    # xz-utils/7-zip use 2^n or 3*2^(n-1) dictionary sizes
    power = (
        dict_size & (dict_size - 1) == 0
        or (dict_size // 3) & (dict_size // 3 - 1) == 0
        and dict_size % 3 == 0
    )
    return (
        MIN_DICT <= dict_size <= MAX_DICT and power and (declared == (1 << 64) - 1 or declared < MAX_DECLARED)
    )


def _header_ok(data: bytes, at: int) -> bool:
    return data[at : at + 6] == XZ_MAGIC


class XzDecoder(Decoder):
    name = "xz"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, XZ_MAGIC) >= 0 or _lzma_alone(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if not data.startswith(XZ_MAGIC) and _lzma_alone(data):
            got = drain("lzma", data, budget)
            if keep(got):
                yield status_label("lzma", got.status), got.data
            return
        yield from embedded_streams(data, "xz", XZ_MAGIC, _header_ok, budget, lambda d, at: "xz")
