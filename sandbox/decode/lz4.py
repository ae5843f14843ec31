"""LZ4 frames (lz4 tool, python-lz4, Arrow IPC and Feather buffers), concatenated and skippable
frames included; also inside other bytes (label "lz4@<offset>"); and a raw LZ4 block making up a whole
view, behind its size or not (label "lz4 block"): python-lz4's ``lz4.block.compress``, Java's
``LZ4Compressor``, the blocks of custom protocols.

LZ4 spends no bits on entropy coding: reads compressed with it are short runs of letters between
back-references, too chopped for k-mers and too regular to look like ciphertext.  A raw block has no
magic: it is taken only when its sequences walk to exactly the view's end (every offset within the
bytes made so far), with a back-reference at least, and, behind a size, make exactly that size.

A block behind its size compressed with a dictionary (``lz4.block.compress(..., dict=...)``) copies from
before its start: it replayed clean.  Its offsets may reach 64 KiB before it, the size it makes checking
them: it is read with a dictionary of zeros and said not read (label "lz4 block (dictionary)").
"""

from __future__ import annotations

from collections.abc import Iterator

import lz4.block

from sandbox.decode import magic, text
from sandbox.decode.base import HEADER_SIZES, Budget, Decoder, embedded_streams
from sandbox.decode.codec import LZ4_MAGIC, lz4_frame
from sandbox.index import _kernels

MAGIC = LZ4_MAGIC
# Shorter blocks are chance: a few bytes walk as a literal and a match.
MIN_RAW_OUTPUT = 32
# A block's output is at most ~255 times its length (a match's length grows by 255 a byte).
MAX_RATIO = 255
DICTIONARY = 1 << 16      # bytes of a dictionary a block behind its size may copy from (LZ4's window)
ZEROS = bytes(DICTIONARY)  # what it is read with


def _header_ok(data: bytes, at: int) -> bool:
    """The frame descriptor's fixed bits: version 01 and a reserved bit in FLG, a block size of
    64 KiB to 4 MiB and reserved bits in BD."""
    if at == 0 and not data.startswith(MAGIC):
        return lz4_frame(data[:4])
    if data[at : at + 4] != MAGIC or len(data) < at + 7:
        return False
    flg, bd = data[at + 4], data[at + 5]
    return flg & 0xC2 == 0x40 and bd & 0x8F == 0 and bd >> 4 >= 4


def raw_block(data: bytes) -> tuple[int, int, bool] | None:
    """(where the block starts, what it makes, whether it copies from a dictionary) when ``data`` is one
    raw block: behind its size (four bytes, little-endian: python-lz4's default; there, copies from a
    dictionary of up to 64 KiB before it too, the size it makes checking them), from its first byte, or
    after a length or a header of the sender's own (``base.HEADER_SIZES``: a raw block of reads behind
    one replayed clean); None otherwise."""
    declared = int.from_bytes(data[:4], "little")
    if len(data) > 4 and MIN_RAW_OUTPUT <= declared <= MAX_RATIO * len(data):
        size, matches, before = _kernels.lz4_block_size(data, 4, DICTIONARY)
        if size == declared and matches:
            return 4, size, before > 0
    for at in HEADER_SIZES if not text.printable(data[:64]) else HEADER_SIZES[:1]:    # (a header and a size are no text)
        if len(data) <= at:
            break
        size, matches, _ = _kernels.lz4_block_size(data, at)
        if size >= MIN_RAW_OUTPUT and matches:
            return at, size, False
    return None


class Lz4Decoder(Decoder):
    name = "lz4"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return lz4_frame(data[:4]) or magic.first(data, MAGIC) >= 0 or raw_block(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        block = None if lz4_frame(data[:4]) else raw_block(data)
        if block is None:
            yield from embedded_streams(data, "lz4", MAGIC, _header_ok, budget, lambda d, at: "lz4")
            return
        start, size, copies = block
        if size > budget.remaining:            # decoded whole or not at all
            budget.exhausted(left=len(data))
            return
        try:
            out = lz4.block.decompress(memoryview(data)[start:], uncompressed_size=size,
                                       **({"dict": ZEROS} if copies else {}))
        except lz4.block.LZ4BlockError:
            return
        if copies:
            budget.not_read("LZ4 block with a preset dictionary the rig does not have (what it copies from it read as zeros)",
                            len(data) - start)
        budget.inflated += max(0, len(out) - len(data))
        yield "lz4 block" + (" (dictionary)" if copies else "") + (f"@{start}" if start not in (0, 4) else ""), out
