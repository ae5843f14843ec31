"""Snappy: framed streams (the framing format's "sNaPpY" stream identifier; xerial's, which Kafka,
Hadoop and Spark write), also inside other bytes ("snappy@<offset>"); and a raw block at the start
of a view (a Loki push, a Prometheus remote write, a custom SDK's payload), which has no magic.

Snappy spends no bits on entropy coding: reads compressed with it are short runs of letters between
back-references, too chopped for k-mers and too regular to look like ciphertext.  A raw block is
taken only when it decodes whole: its leading size must be one its length can declare, its first
element a literal, and the block must end exactly where the view does.
"""

from __future__ import annotations

from collections.abc import Iterator

import cramjam

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder, embedded_streams
from sandbox.decode.codec import SNAPPY_MAGIC, XERIAL_HEADER, XERIAL_MAGIC, snappy_block, snappy_declared

# Shorter raw blocks are chance: a few bytes decode as a literal of themselves.
MIN_RAW_OUTPUT = 32
# Raw snappy literals cost one tag byte per 60 bytes at most and one per 64 KiB fragment at
# least: a block is never much shorter than its output, compressed or not.
RAW_SLACK = 8


def _framed_ok(data: bytes, at: int) -> bool:
    return data.startswith(SNAPPY_MAGIC, at)


def _xerial_ok(data: bytes, at: int) -> bool:
    return data.startswith(XERIAL_MAGIC, at) and len(data) >= at + XERIAL_HEADER + 4


def _raw(data: bytes) -> bool:
    """Whether ``data`` may be one raw block: its declared size fits its length, a literal first."""
    size, head = snappy_declared(data)
    if size < MIN_RAW_OUTPUT or head >= len(data):
        return False
    body = len(data) - head
    return size >= body - body // 4096 - RAW_SLACK and data[head] & 3 == 0


class SnappyDecoder(Decoder):
    name = "snappy"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return magic.first(data, SNAPPY_MAGIC) >= 0 or magic.first(data, XERIAL_MAGIC) >= 0 or _raw(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        framed = magic.first(data, SNAPPY_MAGIC) >= 0 or magic.first(data, XERIAL_MAGIC) >= 0
        if not framed:
            size, _ = snappy_declared(data)
            if size > budget.remaining:  # at most 22 times its length: decoded whole or not at all
                budget.exhausted(left=len(data))
                return
            try:
                out = snappy_block(data)
            except (ValueError, cramjam.DecompressionError):
                return
            budget.inflated += max(0, len(out) - len(data))
            yield "snappy", out
            return
        for mark, ok in ((SNAPPY_MAGIC, _framed_ok), (XERIAL_MAGIC, _xerial_ok)):
            if magic.first(data, mark) >= 0:
                yield from embedded_streams(data, "snappy", mark, ok, budget, lambda d, at: "snappy")
