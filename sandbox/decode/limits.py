"""How far traffic may be unfolded, for the decoders and every protocol alike; and what a limit
that stopped the unfolding says.

Decompression bombs and structure bombs are normal input on this bench, and a limit is also what
an instrument that wants data out unseen aims at: a limit that stops decoding of outbound bytes is
reported (a ``LimitHit``, which becomes a ``decode-limit`` finding and a ``not_examined`` entry),
never a silent clean.  Work is bounded by bytes produced and views made, not by the clock, so a
live session and the replay of its recording stop at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024

# A backstop, not the bound: the output budget below bounds the work (every layer produces bytes
# out of the budget), and real traffic nests a handful of layers (http > multipart > zip > gzip >
# json > base64); 64 lets ordinary wrappers nest as deep as an attacker likes within the budget
# while a zero-growth chain (gzip of gzip of ...) still ends.
MAX_DEPTH = 64
# All views of one payload are held in memory at once and each output byte is sniffed and matched
# once: 256 MiB keeps a worst case well inside a bench PC's RAM and a few seconds of work, while
# covering any realistic single upload (HTTP bodies arrive in pieces of at most 64 MiB).
MAX_TOTAL_BYTES = 256 * MiB
# gzip of FASTQ/BAM/JSON expands 3-10x, of logs up to ~50x; beyond 100x it is a bomb (zeros).
MAX_RATIO = 100
# ...but a tiny compressed message (a 2 KiB JSON of repeated records) may expand far more than
# 100x and is harmless: every step may produce at least this much.
RATIO_FLOOR = 16 * MiB
# Each view is sniffed by every decoder and scanned by the correlator; beyond this the payload is
# a structure bomb (a JSON of a million strings) rather than a message.
MAX_VIEWS = 2048
# Archive members, JSON strings, base64 runs, MIME parts... one step may yield; a zip of 65535
# empty files is an attack on the index, not a leak of more data.
MAX_MEMBERS = 1024
# Text-level decoders (base64, hex, JSON strings...) skip inputs shorter than this: short strings
# decode "successfully" by chance, and 16 bytes is below any evidence the correlator can use.
MIN_TEXT = 16
# Output per decompressor call: one call never balloons, whatever one input byte expands to.
DECODE_STEP = 1 * MiB

DECODE_LIMIT = "decode-limit"  # the finding kind a LimitHit on outbound data becomes
# Unexamined outbound data is worth a reviewer's look but proves no leak (DESIGN.md: at least
# medium); with what it left undecoded it makes the verdict inconclusive.
DECODE_LIMIT_SEVERITY = "medium"


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = MAX_DEPTH
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_ratio: int = MAX_RATIO
    ratio_floor: int = RATIO_FLOOR
    max_views: int = MAX_VIEWS
    max_members: int = MAX_MEMBERS
    min_text: int = MIN_TEXT

    def ratio_allowance(self, fed: int) -> int:
        """Output bytes a stream may produce from ``fed`` input bytes."""
        return max(self.ratio_floor, self.max_ratio * fed)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class LimitHit:
    """A limit stopped the decoding of a view: which, in which decoder, where, and how much of the
    view's bytes were left undecoded (so the report can say what it did not examine)."""

    limit: str  # "expansion ratio 100x", "total output 256 MiB", "depth 64", "2048 views", ...
    decoder: str  # the decoder or content coding that was stopped
    chain: tuple[str, ...]  # the chain of the view it was decoding
    bytes_left: int  # bytes of that view not decoded (0 when unknown)

    @property
    def text(self) -> str:
        where = self.chain[-1] if self.chain else "input"
        return f"{self.limit} reached in {self.decoder} at {where}"

    def detail(self) -> dict[str, Any]:
        """The ``detail`` of the decode-limit finding this hit makes."""
        return {"limit": self.limit, "decoder": self.decoder, "bytes_not_examined": self.bytes_left}


def size_text(n: int) -> str:
    """256 MiB, 16 KiB, 100 B: for limit texts."""
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"
