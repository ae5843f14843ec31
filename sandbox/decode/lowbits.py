"""Data in the low bits of other bytes (an image's pixels, a sound's samples): read out (label "low bits").

Hiding data in the lowest bit of each pixel costs a sender a dozen lines and changes no picture a
person looks at: a gzip of reads, or the reads themselves, in the low bit (or two) of a screenshot's
pixels, as a PNG, a BMP, a TIFF or the raw pixels, replayed clean; the pixels were read, and what
they hid was in none of their bytes.  A view's low bits are taken as one bit stream in each of the
ways such tools take them: one or two bits (the higher first) of every byte, of three bytes in four
(an alpha channel's left alone) or of every second byte (a 16-bit sample's low byte), at each of the
eight bit offsets (a header of the cover's own before the data), packed the highest bit first or
the lowest first.  Where the first 64 bytes one of these makes are text (nine in ten printable past
the first 16, and not one value or a few over and over: a flat colour's bits; where two ways make
text, the one whose first KiB is most printable) or open a stream or an archive by its magic and
header (``disguised.opens``), the view's low bits so taken are handed on: the decoders read what
they hold.  One pass over a view's first KiB looks all ways at once (``_kernels.low_bit_look``,
~9 µs a view).

Text with words between (printable, spaces or line ends among its first 256 bytes: JSON, FASTQ,
logs; the most common views, a look at each of which cost the text-heavy replay 2%) and UTF-8 text
of characters past ASCII (emoji a base each: their low bits are the bases, which ``characters``
reads as what they are) are not looked at (prose's own channels, its letters' case and its blanks,
are ``textbits``').  Out of reach: bits spread by a key (steghide's), data starting past the first 64
bytes the bits make, a zlib stream there (two bytes of magic: a match in a hundred views of noise).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import BZ2_MAGIC
from sandbox.decode.disguised import HEAD, MAGICS, MAP_LABELS, MAPS, opens
from sandbox.decode.strided import PRINTABLE
from sandbox.index import _kernels

MIN_VIEW = 2048
ROW = 64                  # bytes each way makes of a view's first bytes, judged
# (bits a byte, which bytes: 0 every one, 1 three in four, 2 every second)
WAYS = ((1, 0), (2, 0), (1, 1), (2, 1), (1, 2), (2, 2))
COVER = ROW * 8 * 2 + 16  # bytes of the view the most wasteful way takes them from
MIN_TEXT = 0.9            # printable share of the bytes a way makes that are text, ...
SKIPPED = 16              # ... past their first bytes (a header of the cover's own: a BMP's 54 bytes' bits)
MIN_DISTINCT = 4          # values among them (bases alone: four), ...
MAX_PERIOD = 8            # ... not all one pattern of this many bytes or fewer (a flat colour's bits)
FURTHER = 1024            # bytes a way that makes text makes to weigh it against another that does
MAX_CANDIDATES = 64       # places a look names, checked in turn
MIN_SPACES = 8            # spaces, tabs and line ends among a text view's first 256 bytes that make it prose
_WAYS = np.array(WAYS, np.int64)
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_REVERSED = MAPS[MAP_LABELS.index("bits reversed")].tobytes()     # (its own inverse)
# Each magic's first three bytes as the highest-first packing reads them, packed so and lowest first
_NEEDLES = b"".join(m[:3] + m[:3].translate(_REVERSED) for m in (*(m for _, m in MAGICS), BZ2_MAGIC))
_NAMES = {0: "", 1: ", three bytes in four", 2: ", every second byte"}


def text_row(row: np.ndarray) -> bool:
    """Whether bytes a way made are text: printable, varied, not one short pattern over and over (a
    flat colour's bits)."""
    if PRINTABLE[row[SKIPPED:]].mean() < MIN_TEXT or len(np.unique(row)) < MIN_DISTINCT:
        return False
    return all((row[k:] != row[:-k]).any() for k in range(1, MAX_PERIOD + 1))


def _prose(head: bytes) -> bool:
    """Whether a view's first bytes are text with words between (printable, MIN_SPACES spaces, tabs or
    line ends): JSON, FASTQ, logs, the most common views, which no pixels are."""
    return text.printable(head) and len(head) - len(head.translate(None, b" \t\r\n")) >= MIN_SPACES


def _utf8_text(head: bytes) -> bool:
    """Whether a view's first bytes are UTF-8 text of characters past ASCII (emoji, a base a character:
    their low bits vary with the character, and ``characters`` reads them), no control in it."""
    try:
        decoded, _ = codecs.utf_8_decode(head, "strict", False)
    except UnicodeDecodeError:
        return False
    return len(decoded) < len(head) and _CONTROLS.search(decoded) is None


def hidden(data: bytes) -> tuple[int, int, int, bool] | None:
    """The way a view's low bits hold text or a stream: (bits a byte, which bytes, bit offset, lowest
    bit first), or None."""
    if len(data) < MIN_VIEW or _prose(data[:256]) or _utf8_text(data[:COVER]):
        return None
    head = data[:COVER]
    found = np.empty((MAX_CANDIDATES, 3), np.int64)      # (a cover's chance magics are few: a sender's decoys too)
    count = _kernels.low_bit_look(head, _WAYS, _NEEDLES, ROW * 8 + 7, found)
    texts = []
    for kind, way, bit in found[:count].tolist():
        bits, pattern = WAYS[way]
        if kind < 0:        # one bit in eight mostly 0: a byte's top bit, first or last as the bits are packed
            for skip, lsb_first in ((bit, False), ((bit + 1) % 8, True)):
                row = np.zeros(ROW, np.uint8)
                _kernels.low_bits(head, bits, pattern, skip, lsb_first, row)
                if text_row(row):
                    texts.append((_printable_further(data, bits, pattern, skip, lsb_first), (bits, pattern, skip, lsb_first)))
        else:
            lsb_first = bool(kind % 2)
            start = bytearray(HEAD)
            if _kernels.low_bits(head, bits, pattern, bit, lsb_first, start) == HEAD and opens(bytes(start)):
                return bits, pattern, bit % 8, lsb_first
    # where two ways make text (bits of the text another way hides), the one whose text goes on
    return max(texts)[1] if texts else None


def _printable_further(data: bytes, bits: int, pattern: int, skip: int, lsb_first: bool) -> float:
    """The printable share of the first FURTHER bytes a way makes of the view (past its first ones)."""
    row = np.zeros(FURTHER, np.uint8)
    made = _kernels.low_bits(data, bits, pattern, skip, lsb_first, row)
    return float(PRINTABLE[row[SKIPPED:made]].mean()) if made > SKIPPED else 0.0


class LowBitsDecoder(Decoder):
    name = "low bits"
    unstructured = True
    reapply = False       # the bits of bits are no one's channel

    @staticmethod
    def sniff(data: bytes) -> bool:
        return hidden(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = hidden(data)
        if found is None:
            return
        bits, pattern, skip, lsb_first = found
        taken = len(data) if pattern == 0 else len(data) * 3 // 4 if pattern == 1 else len(data) // 2
        size = taken * bits // 8
        if size > budget.remaining:
            budget.exhausted(left=len(data))
            return
        out = bytearray(size)
        made = _kernels.low_bits(data, bits, pattern, skip, lsb_first, out)
        order = ", lowest first" if lsb_first else ""
        yield f"low bits ({bits} a byte{_NAMES[pattern]}{order})", bytes(out[:made])
