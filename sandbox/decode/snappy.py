"""Snappy: framed streams (the framing format's "sNaPpY" stream identifier; xerial's, which Kafka,
Hadoop and Spark write), also inside other bytes ("snappy@<offset>"); and a raw block at the start
of a view (a Loki push, a Prometheus remote write, a custom SDK's payload), which has no magic.

Snappy spends no bits on entropy coding: reads compressed with it are short runs of letters between
back-references, too chopped for k-mers and too regular to look like ciphertext.  A raw block is
taken only when it decodes whole: its leading size must be one its length can declare, its first
element a literal, and the block must end exactly where the view does; at the view's start, or after
a length of 2, 4 or 8 bytes or a header of 16 (a raw block of reads behind one replayed clean).  Or
blocks one after another, each as long as the length before it says (records of 4 KiB of reads
replayed clean), each decoded whole.
"""

from __future__ import annotations

from collections.abc import Iterator

import cramjam

from sandbox.decode import magic, text
from sandbox.decode.base import (
    HEADER_SIZES,
    LENGTH_SIZES,
    Budget,
    Decoder,
    declared_lengths,
    embedded_streams,
)
from sandbox.decode.codec import SNAPPY_MAGIC, XERIAL_HEADER, XERIAL_MAGIC, snappy_block, snappy_declared

# Shorter raw blocks are chance: a few bytes decode as a literal of themselves.
MIN_RAW_OUTPUT = 32
# Raw snappy literals cost one tag byte per 60 bytes at most and one per 64 KiB fragment at
# least: a block is never much shorter than its output, compressed or not.
RAW_SLACK = 8
MAX_RECORDS = 1024        # raw blocks read from one view, one after the other


def _framed_ok(data: bytes, at: int) -> bool:
    return data.startswith(SNAPPY_MAGIC, at)


def _xerial_ok(data: bytes, at: int) -> bool:
    return data.startswith(XERIAL_MAGIC, at) and len(data) >= at + XERIAL_HEADER + 4


def _raw(data: bytes | memoryview) -> bool:
    """Whether ``data`` may be one raw block: its declared size fits its length, a literal first."""
    size, head = snappy_declared(data)
    if size < MIN_RAW_OUTPUT or head >= len(data):
        return False
    body = len(data) - head
    return size >= body - body // 4096 - RAW_SLACK and data[head] & 3 == 0


def _raw_at(data: bytes, pos: int = 0) -> tuple[int, int] | None:
    """Where a raw block starts and ends, from ``pos``: a block that runs to the view's end, at ``pos``
    or after a length or a header of the sender's own (``base.HEADER_SIZES``); or a record, a block as long as
    the 2, 4 or 8 bytes before it say (either byte order).  Past ``pos``, decoded to be taken; None."""
    view = memoryview(data)
    if text.printable(data[pos:pos + 64]):
        offsets: tuple[int, ...] = HEADER_SIZES[:1] if not pos else ()      # (a header and a size are no text)
    else:
        offsets = HEADER_SIZES
    for offset in offsets:
        at = pos + offset
        if len(data) <= at:
            return None
        for length in declared_lengths(data, pos, offset, MIN_RAW_OUTPUT // 22) if offset in LENGTH_SIZES else ():
            if _raw(view[at:at + length]) and _decodes(view[at:at + length]):
                return at, at + length
        if _raw(view[at:]) and (not at or _decodes(view[at:])):
            return at, len(data)
    return None


def _decodes(block: memoryview) -> bool:
    """Whether a raw block behind bytes of the sender's own decodes whole (zeros after a length pass
    ``_raw``'s checks)."""
    try:
        return len(snappy_block(block)) >= MIN_RAW_OUTPUT
    except (ValueError, cramjam.DecompressionError):
        return False


class SnappyDecoder(Decoder):
    name = "snappy"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, SNAPPY_MAGIC) >= 0 or magic.first(data, XERIAL_MAGIC) >= 0 or _raw_at(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        framed = magic.first(data, SNAPPY_MAGIC) >= 0 or magic.first(data, XERIAL_MAGIC) >= 0
        if not framed:
            pos = 0
            for _ in range(MAX_RECORDS):
                found = _raw_at(data, pos)
                if found is None:
                    return
                at, end = found
                block = memoryview(data)[at:end]
                size, _ = snappy_declared(block)
                if size > budget.remaining:  # at most 22 times its length: decoded whole or not at all
                    budget.exhausted(left=len(data) - at)
                    return
                try:
                    out = snappy_block(block)
                except (ValueError, cramjam.DecompressionError):
                    return
                budget.inflated += max(0, len(out) - len(block))
                yield "snappy" + (f"@{at}" if at else ""), out
                if end >= len(data):
                    return
                pos = end
            return
        for mark, ok in ((SNAPPY_MAGIC, _framed_ok), (XERIAL_MAGIC, _xerial_ok)):
            if magic.first(data, mark) >= 0:
                yield from embedded_streams(data, "snappy", mark, ok, budget, lambda d, at: "snappy")
