"""How far one payload may be unfolded: decompression bombs are normal input on this bench."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024

# Real traffic nests a handful of layers (http > multipart > zip > gzip > json > base64); deeper
# nesting is an attack or an accident, and each layer multiplies the work.
MAX_DEPTH = 8
# All views of one payload are held in memory at once; 256 MiB keeps a worst case well inside a
# bench PC's RAM while covering any realistic single upload.
MAX_TOTAL_BYTES = 256 * MiB
# gzip of FASTQ/BAM/JSON expands 3-10x, of logs up to ~50x; beyond 100x it is a bomb (zeros).
MAX_RATIO = 100
# ...but a tiny compressed message (a 2 KiB JSON of repeated records) may expand far more than
# 100x and is harmless: every step may produce at least this much.
RATIO_FLOOR = 16 * MiB
# Each view is sniffed by every decoder and scanned by the correlator; beyond this the payload is
# a structure bomb (a JSON of a million strings) rather than a message.
MAX_VIEWS = 2048
# Archive members, JSON strings, base64 runs... one step may yield; a zip of 65535 empty files is
# an attack on the index, not a leak of more data.
MAX_MEMBERS = 1024
# Text-level decoders (base64, hex, JSON strings...) skip inputs shorter than this: short strings
# decode "successfully" by chance, and 16 bytes is below any evidence the correlator can use.
MIN_TEXT = 16


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = MAX_DEPTH
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_ratio: int = MAX_RATIO
    ratio_floor: int = RATIO_FLOOR
    max_views: int = MAX_VIEWS
    max_members: int = MAX_MEMBERS
    min_text: int = MIN_TEXT


DEFAULT_LIMITS = Limits()


def size_text(n: int) -> str:
    """256 MiB, 16 KiB, 100 B: for notes."""
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"
