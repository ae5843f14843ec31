"""Windows' own compression (MS-XCA: LZNT1, plain LZ77, LZ77+Huffman) and what else SMB 3.1.1
compresses its messages with (MS-SMB2 2.2.42: LZ4 blocks, Pattern_V1 runs of one byte).

None of these streams says where it ends or how much it makes: the caller gives the size its
container declares, and nothing is made past it (a few bytes of a hostile stream can ask for
gigabytes).  The MS-XCA coders are compiled (``_kernels.xca``), linear in what they make.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import lz4.block

from sandbox.index import _kernels

NONE, LZNT1, LZ77, LZ77_HUFFMAN, PATTERN_V1, LZ4 = range(6)
NAMES = {NONE: "none", LZNT1: "LZNT1", LZ77: "LZ77", LZ77_HUFFMAN: "LZ77+Huffman", PATTERN_V1: "Pattern_V1",
         LZ4: "LZ4"}
_ENDED = 0            # the kernel's status when the input ended (1: the room is full, 2: corrupt)
_PATTERN = struct.Struct("<BBHI")  # Pattern_V1: the byte, two reserved fields, how many times


class Expanded(NamedTuple):
    """What a stream made (at most the size declared) and whether that is all of it: exactly the size
    declared, and nothing left over (bytes past what was declared are not examined)."""

    data: bytes
    whole: bool


def name(algorithm: int) -> str:
    """The algorithm as MS-SMB2 names it; one it does not list by its number (the instrument's bytes)."""
    return NAMES.get(algorithm, f"algorithm {algorithm}")


def decompress(algorithm: int, data: bytes, size: int) -> Expanded | None:
    """``data`` of ``algorithm`` expanded to at most ``size`` bytes; None for an algorithm not known."""
    if algorithm == NONE:
        return Expanded(data[:size], len(data) <= size)
    if algorithm in (LZNT1, LZ77, LZ77_HUFFMAN):
        out = bytearray(size)
        made, _, status = _kernels.xca(data, algorithm, out)
        del out[made:]
        return Expanded(bytes(out), made == size and status == _ENDED)
    if algorithm == PATTERN_V1:
        if len(data) != _PATTERN.size:
            return Expanded(b"", False)
        byte, _, _, times = _PATTERN.unpack(data)
        return Expanded(bytes([byte]) * min(times, size), times <= size)
    if algorithm == LZ4:
        try:
            return Expanded(lz4.block.decompress(data, uncompressed_size=size), True)
        except lz4.block.LZ4BlockError:
            return Expanded(b"", False)
    return None
