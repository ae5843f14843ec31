"""xz (including concatenated streams) and legacy .lzma ("LZMA alone") data."""

from __future__ import annotations

import lzma
import struct
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder, mark
from sandbox.decode.stream import keep, unpack

XZ_MAGIC = b"\xfd7zXZ\x00"
# LZMA alone: properties byte (lc=3 lp=0 pb=2 is what every encoder writes by default), a
# dictionary size, then the uncompressed size (-1 when unknown).
LZMA_PROPS = 0x5D
MIN_DICT, MAX_DICT = 1 << 12, 1 << 30
MAX_DECLARED = 1 << 40  # uncompressed size field: anything larger is not a real .lzma header
_ERRORS = (lzma.LZMAError, EOFError, ValueError)


def _xz_stream(head: bytes) -> bool:
    return head.startswith(XZ_MAGIC)


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


class XzDecoder(Decoder):
    name = "xz"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(XZ_MAGIC) or _lzma_alone(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if data.startswith(XZ_MAGIC):
            label, fmt, more = "xz", lzma.FORMAT_XZ, _xz_stream
        else:
            label, fmt, more = "lzma", lzma.FORMAT_ALONE, None
        got = unpack(lambda: lzma.LZMADecompressor(fmt), _ERRORS, data, budget.remaining, more)
        if got.status == "limit":
            budget.exhausted()
        if keep(got):
            yield mark(label, got.status), got.data
