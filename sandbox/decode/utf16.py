"""Text in UTF-16 (label "utf-16le" or "utf-16be"): its ASCII characters a byte each.

Windows writes text in UTF-16 where a program does not say otherwise: .NET's ``Encoding.Unicode``,
PowerShell's ``Out-File``, an XML document serialised to a string, SQL Server's SQL batches (TDS
carries them in UTF-16LE), Java's ``getBytes("UTF-16")`` (big-endian).  Base64 or hex of a gzip of
reads so written replayed clean: every decoder of text saw a zero byte after each character.  Runs of
ASCII characters in UTF-16 (at either byte alignment, in a view that may hold other bytes: a protocol's
headers) are read out a byte a character, runs apart joined by a line break.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder

MIN_CHARS = 32            # a run shorter than this is a name or a label in a binary file, no text
MIN_ZEROS = 0.2           # share of zero bytes a view needs (ASCII text in UTF-16 is half zeros)
MIN_VIEW = 2 * MIN_CHARS
MIN_PRINTABLE = 0.1       # share of printable ASCII bytes among every SAMPLE_STEP-th (text: nearly half)
SAMPLE_STEP = 15          # odd: the sample takes characters and zeros alike
_PRINTABLE = np.zeros(256, dtype=bool)
_PRINTABLE[0x20:0x7F] = True
_PRINTABLE[[0x09, 0x0A, 0x0D]] = True
_NEWLINE = np.frombuffer(b"\n", dtype=np.uint8)


def _runs(ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the runs of True in ``ok`` at least MIN_CHARS long."""
    edges = np.diff(ok.view(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = ends - starts >= MIN_CHARS
    return starts[long], ends[long]


def _text(chars: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """The characters of the runs, a line break between one run and the next."""
    inside = np.zeros(len(chars) + 1, dtype=np.int8)
    inside[starts] = 1
    inside[ends] -= 1
    taken = chars[np.cumsum(inside[:-1], dtype=np.int8) > 0]
    return np.insert(taken, np.cumsum(ends - starts)[:-1], _NEWLINE[0]).tobytes()


class Utf16Decoder(Decoder):
    name = "utf-16"

    @staticmethod
    def sniff(data: bytes) -> bool:
        """A fifth of the bytes zero, and a tenth of every SAMPLE_STEP-th byte printable (a run of zeros,
        a bomb's output, holds no characters: it is not read)."""
        if len(data) < MIN_VIEW or data.count(0) < MIN_ZEROS * len(data):
            return False
        sample = np.frombuffer(data, dtype=np.uint8)[::SAMPLE_STEP]
        return np.count_nonzero(_PRINTABLE[sample]) >= MIN_PRINTABLE * len(sample)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        """ASCII characters with a zero byte beside them, at even offsets and at odd ones: little-endian
        text has its zero after each character, big-endian before, and a run one byte off is read
        whole either way (its first character's zero is after it, its last one's before)."""
        raw = np.frombuffer(data, dtype=np.uint8)
        padded = np.ones(len(raw) + 3, dtype=np.uint8)       # no zero beside either end
        padded[1:-2] = raw
        for parity in (0, 1):
            chars = raw[parity::2]
            n = len(chars)
            before = padded[parity: parity + 2 * n: 2]
            after = padded[parity + 2: parity + 2 + 2 * n: 2]
            starts, ends = _runs(_PRINTABLE[chars] & ((before == 0) | (after == 0)))
            if len(starts):
                yield "utf-16" if parity == 0 else "utf-16@1", _text(chars, starts, ends)
