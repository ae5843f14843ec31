"""SMB 3.1.1's compressed messages (MS-SMB2 2.2.42) written byte for byte, for tests of what no SMB
implementation here sends; the plain messages are the simulator's (``sandbox.simulate.wire``)."""

from __future__ import annotations

import struct
from collections.abc import Callable

from sandbox.decode import msxca
from tests.decode import xca_writer

WRITERS: dict[int, Callable[[bytes], bytes]] = {msxca.LZ77: xca_writer.lz77, msxca.LZNT1: xca_writer.lznt1,
                                                msxca.LZ77_HUFFMAN: xca_writer.huffman}


def compressed(message: bytes, algorithm: int, keep: int = 0) -> bytes:
    """An unchained compressed message (2.2.42.1): its first ``keep`` bytes as they are, the rest packed."""
    rest = message[keep:]
    packed = lz4_block(rest) if algorithm == msxca.LZ4 else WRITERS[algorithm](rest)
    return struct.pack("<4sIHHI", b"\xfcSMB", len(rest), algorithm, 0, keep) + message[:keep] + packed


def chained(parts: list[tuple[int, bytes]]) -> bytes:
    """A chained compressed message (2.2.42.2): each part as (algorithm, its original bytes)."""
    out = bytearray(struct.pack("<4sI", b"\xfcSMB", sum(len(p) for _, p in parts)))
    for n, (algorithm, original) in enumerate(parts):
        if algorithm == msxca.NONE:
            payload = original
        elif algorithm == msxca.PATTERN_V1:
            assert len(set(original)) == 1
            payload = struct.pack("<BBHI", original[0], 0, 0, len(original))
        else:
            packed = lz4_block(original) if algorithm == msxca.LZ4 else WRITERS[algorithm](original)
            payload = struct.pack("<I", len(original)) + packed
        out += struct.pack("<HHI", algorithm, 1 if n == 0 else 0, len(payload)) + payload
    return bytes(out)


def lz4_block(data: bytes) -> bytes:
    import lz4.block
    return lz4.block.compress(data, store_size=False)
