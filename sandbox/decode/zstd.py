"""Zstandard frames (RFC 8878), including concatenated and skippable frames; also inside other
bytes (label "zstd@<offset>").

A frame whose header names a dictionary (a vendor's telemetry compressed message by message with a
trained one) cannot be read without it: its bytes look like ciphertext and were left to the
opaque-volume threshold; it is said not read (from the first such frame to the view's end), and so is
a frame the decoder finds corrupt (the same, its header not naming the dictionary)."""

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
# A frame the decoder finds corrupt: most often one compressed with a dictionary whose id its header
# omits (``zstd -D dict --no-dictID``, ``write_dict_id=False``), which reads as damaged without it.
BROKEN = "zstd frame the rig could not decode (a dictionary it does not have, or damaged)"
MAX_WINDOW_LOG = 31       # RFC 8878 3.1.1.1.2: windows are at most 2^31 bytes (3.75 TB in theory, never)
RESERVED_BLOCK = 3        # block type 3 is reserved (3.1.1.2.2)
MAX_BLOCK = 128 << 10     # Block_Maximum_Size


def dictionary_id(data: bytes, at: int) -> int:
    """The dictionary the frame at ``at`` was compressed with (0: none, or the header is cut)."""
    if data[at: at + 4] != MAGIC or len(data) < at + 6:
        return 0
    fhd = data[at + 4]
    start = at + 5 + (0 if fhd & SINGLE_SEGMENT else 1)
    return int.from_bytes(data[start: start + DICTIONARY_ID_BYTES[fhd & 3]], "little")


def _broken(data: bytes, at: int) -> str:
    return BROKEN if _written(data, at) else ""


def _written(data: bytes, at: int) -> bool:
    """Whether the frame header at ``at`` and its first block's header are what a compressor writes (a
    chance magic in ciphertext seldom has both: what it hides is not said)."""
    fhd = data[at + 4] if len(data) > at + 4 else RESERVED_BIT
    if fhd & RESERVED_BIT:
        return False
    single = bool(fhd & SINGLE_SEGMENT)
    if not single and len(data) > at + 5 and (data[at + 5] >> 3) + 10 > MAX_WINDOW_LOG:
        return False
    content_size = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    block = at + 5 + (0 if single else 1) + DICTIONARY_ID_BYTES[fhd & 3] + content_size
    header = int.from_bytes(data[block: block + 3], "little")
    return len(data) >= block + 3 and (header >> 1) & 3 != RESERVED_BLOCK and header >> 3 <= MAX_BLOCK


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
        at, tried, said = magic.first(data, MAGIC), 0, False
        while at >= 0 and tried < MAX_EMBEDDED:
            tried += 1
            if _header_ok(data, at) and dictionary_id(data, at) and _written(data, at):
                budget.not_read("zstd frame compressed with a dictionary the rig does not have", len(data) - at)
                said = True
                break
            at = magic.find(data, MAGIC, at + 1)
        yield from embedded_streams(data, "zstd", MAGIC, _header_ok, budget, lambda d, at: "zstd",
                                    broken=None if said else _broken)
