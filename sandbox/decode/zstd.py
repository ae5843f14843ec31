"""Zstandard frames (RFC 8878), including concatenated and skippable frames."""

from __future__ import annotations

from collections.abc import Iterator

import zstandard

from sandbox.decode.base import Budget, Decoder, mark
from sandbox.decode.stream import CHUNK, MIN_CORRUPT_OUTPUT

MAGIC = b"\x28\xb5\x2f\xfd"
# Skippable frames: magic 0x184D2A50..0x184D2A5F, little-endian on the wire.
SKIPPABLE_TAIL = b"\x2a\x4d\x18"
# An RLE block turns 4 input bytes into 128 KiB: feeding at most room / 2^15 input bytes per
# call keeps one call's output within the budget (decompressobj has no max_length).
MAX_BLOCK_RATIO = 1 << 15
MIN_FEED = 16
# zstd -19 uses 8 MiB windows; larger (--long/--ultra) would make one frame allocate more than a
# whole step may output.
MAX_WINDOW = 1 << 25


def _frame(head: bytes) -> bool:
    return head[:4] == MAGIC or (len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == SKIPPABLE_TAIL)


def _drain(data: bytes, cap: int) -> tuple[bytes, str]:
    mv = memoryview(data)
    n = len(data)
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    obj = dctx.decompressobj()
    pieces: list[bytes] = []
    total = pos = 0
    pending: bytes | memoryview = b""  # read from the input, not yet fed
    started = False
    while True:
        if obj.eof:
            pending = obj.unused_data + bytes(pending)
            if len(pending) < 4 and pos < n:
                pending += bytes(mv[pos : pos + CHUNK])
                pos = min(n, pos + CHUNK)
            if not pending or not _frame(pending[:4]):
                return _cut(pieces, cap), "ok"
            obj, started = dctx.decompressobj(), False
        room = cap - total
        if room <= 0:
            return _cut(pieces, cap), "limit"
        if not pending:
            if pos >= n:
                return _cut(pieces, cap), ("truncated" if started else "ok")
            pending = mv[pos : pos + CHUNK]
            pos += len(pending)
        step = max(MIN_FEED, min(CHUNK, room // MAX_BLOCK_RATIO))
        feed, pending = pending[:step], pending[step:]
        try:
            out = obj.decompress(feed)
        except zstandard.ZstdError:
            return _cut(pieces, cap), "corrupt"
        started = True
        if out:
            pieces.append(out)
            total += len(out)
        if total >= cap and not obj.eof:
            return _cut(pieces, cap), "limit"


def _cut(pieces: list[bytes], cap: int) -> bytes:
    data = b"".join(pieces)
    return data[:cap] if len(data) > cap else data


class ZstdDecoder(Decoder):
    name = "zstd"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _frame(data[:4])

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        out, status = _drain(data, budget.remaining)
        if status == "limit":
            budget.exhausted()
        if out and (status != "corrupt" or len(out) >= MIN_CORRUPT_OUTPUT):
            yield mark("zstd", status), out
