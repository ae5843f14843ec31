"""Zstandard frames (RFC 8878), including concatenated and skippable frames; also inside other
bytes (label "zstd@<offset>").

A frame whose header names a dictionary (a vendor's telemetry compressed message by message with a
trained one) cannot be read without it: its bytes look like ciphertext and were left to the
opaque-volume threshold; it is said not read (from the first such frame to the view's end)."""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode import magic
from sandbox.decode.base import MAX_EMBEDDED, Budget, Decoder, embedded_streams
from sandbox.decode.codec import ZSTD_MAGIC, zstd_frame

MAGIC = ZSTD_MAGIC
# Frame header descriptor (RFC 8878 3.1.1.1.1): bit 3 is reserved and must be zero; bits 0-1 say how
# many bytes the dictionary ID takes (0, 1, 2 or 4), after the window descriptor unless bit 5 (single
# segment) says there is none.
RESERVED_BIT = 0x08
SINGLE_SEGMENT = 0x20
DICTIONARY_ID_BYTES = (0, 1, 2, 4)


def dictionary_id(data: bytes, at: int) -> int:
    """The dictionary the frame at ``at`` was compressed with (0: none, or the header is cut)."""
    if data[at: at + 4] != MAGIC or len(data) < at + 6:
        return 0
    fhd = data[at + 4]
    start = at + 5 + (0 if fhd & SINGLE_SEGMENT else 1)
    return int.from_bytes(data[start: start + DICTIONARY_ID_BYTES[fhd & 3]], "little")


def _header_ok(data: bytes, at: int) -> bool:
    if at == 0:
        return zstd_frame(data[:4])
    return data[at : at + 4] == MAGIC and len(data) > at + 5 and not data[at + 4] & RESERVED_BIT


class ZstdDecoder(Decoder):
    name = "zstd"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return zstd_frame(data[:4]) or magic.first(data, MAGIC) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        at, tried = magic.first(data, MAGIC), 0
        while at >= 0 and tried < MAX_EMBEDDED:
            tried += 1
            if _header_ok(data, at) and dictionary_id(data, at):
                budget.not_read("zstd frame compressed with a dictionary the rig does not have", len(data) - at)
                break
            at = magic.find(data, MAGIC, at + 1)
        yield from embedded_streams(data, "zstd", MAGIC, _header_ok, budget, lambda d, at: "zstd")
