"""Bits hidden in prose: its letters' case, its lines' trailing blanks, its gaps' widths (label "text bits (...)").

Text steganography costs a sender a dozen lines and leaves prose a person reads as it was: a gzip of
reads in the case of a log's letters (upper a one), in the spaces and tabs after each line's last word
(a tab a one), or in single and double spaces between words, replayed clean; every byte was printable
prose, and the data was in none of them.  A view of printable text with words between (MIN_VIEW bytes
or more) is looked at for each channel in its first SAMPLE bytes: letters of which between MIN_UPPER
and MAX_UPPER are capitals (prose has a few, shouting all, a title a fifth); most lines ending in blanks,
spaces and tabs both; gaps of one and two spaces both, each a fifth of them at least.  Each channel's
bits are read (a one each way round, packed the highest bit first or the lowest), and those whose first
ROW bytes are text or open a stream or an archive by its magic and header (``disguised.opens``) are
handed on: the decoders read what they hold.  Out of reach: bits spread by a key, every second letter's
case, a channel whose data starts past its first ROW bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder
from sandbox.decode.disguised import opens
from sandbox.decode.lowbits import text_row

MIN_VIEW = 1024
SAMPLE = 4096
MIN_LETTERS = 512         # letters the sample holds for its case to be weighed
MIN_UPPER, MAX_UPPER = 0.3, 0.7
MIN_LINES = 32            # lines the sample holds for their ends to be weighed
MIN_ENDED = 0.5           # share of them ending in blanks
MIN_GAPS = 256            # gaps between words the sample holds
MIN_WIDE = 0.2            # share of gaps of each width, one space and two
ROW = 64                  # bytes each reading makes, judged
FIRST_LOOK = 512          # bytes looked at first (every channel shows in them), ...
FIRST_LOOK_UPPER = (0.15, 0.85)     # ... and the share of capitals among them that looks further
_UPPER = bytes(range(0x41, 0x5B))
_LOWER = bytes(range(0x61, 0x7B))
_NOT_LETTERS = bytes(b for b in range(256) if b not in _UPPER + _LOWER)
_ENDS = re.compile(rb"[ \t]+(?=\r?\n)")
_GAPS = re.compile(rb"(?<=\S) {1,2}(?=\S)")


def _case_bits(data: bytes) -> np.ndarray:
    letters = np.frombuffer(data.translate(None, _NOT_LETTERS), np.uint8)
    return (letters < 0x61).astype(np.uint8)          # a capital a one


def _end_bits(data: bytes) -> np.ndarray:
    ends = bytearray()          # (grown, not a list of a line's run each)
    for m in _ENDS.finditer(data):
        ends += m.group()
    return (np.frombuffer(bytes(ends), np.uint8) == 0x09).astype(np.uint8)      # a tab a one


def _gap_bits(data: bytes) -> np.ndarray:
    return np.fromiter((m.end() - m.start() - 1 for m in _GAPS.finditer(data)), np.uint8)  # two spaces a one


# Each channel: its bits, and what is a one in them
CHANNELS = {"letter case": (_case_bits, "a capital"), "line ends": (_end_bits, "a tab"),
            "word gaps": (_gap_bits, "two spaces")}


def _capitals(head: bytes) -> tuple[int, int]:
    """(letters, capitals among them) in a view's first bytes, at C speed."""
    letters = head.translate(None, _NOT_LETTERS)
    return len(letters), len(letters) - len(letters.translate(None, _UPPER))


def _mixed_case(head: bytes) -> bool:
    """Whether a view's first bytes have capitals and small letters both, neither far from half."""
    letters, upper = _capitals(head)
    return letters > 0 and FIRST_LOOK_UPPER[0] * letters <= upper <= FIRST_LOOK_UPPER[1] * letters


def _channels(head: bytes) -> list[str]:
    """The channels a view's first bytes may carry bits in (see the module docstring)."""
    found = []
    letters, upper = _capitals(head)
    if letters >= MIN_LETTERS and MIN_UPPER * letters <= upper <= MAX_UPPER * letters:
        found.append("letter case")
    lines = head.count(b"\n")
    if lines >= MIN_LINES and (b" \n" in head or b" \r\n" in head) and (b"\t\n" in head or b"\t\r\n" in head):
        if len(_ENDS.findall(head)) >= MIN_ENDED * lines:
            found.append("line ends")
    if b"  " in head and head.count(b" ") >= MIN_GAPS:
        wide = _gap_bits(head)
        if len(wide) >= MIN_GAPS and MIN_WIDE <= wide.mean() <= 1 - MIN_WIDE:
            found.append("word gaps")
    return found


def _readings(bits: np.ndarray, marked: str) -> Iterator[tuple[str, bytes]]:
    """Each way a channel's bits read as bytes whose first ROW are text or open a stream."""
    for value in (1, 0):
        taken = bits if value else 1 - bits
        for order in ("big", "little"):     # (a last byte's bits cut short: no byte)
            out = np.packbits(taken[:len(taken) // 8 * 8], bitorder=order).tobytes()
            row = out[:ROW]
            if len(row) == ROW and (opens(row[:16]) or text_row(np.frombuffer(row, np.uint8))):
                yield f"{marked} a {'one' if value else 'zero'}, {'highest' if order == 'big' else 'lowest'} bit first", out


class TextBitsDecoder(Decoder):
    name = "text bits"
    text = True
    reapply = False       # what it reads out is no prose of its own

    @staticmethod
    def sniff(data: bytes) -> bool:
        first = data[:FIRST_LOOK]
        if len(data) < MIN_VIEW or not (_mixed_case(first) or b"  " in first or b" \n" in first or b"\t\n" in first):
            return False    # (a first look: most views' letters are nearly all one case, no blanks end lines)
        head = data[:SAMPLE]
        return text.printable(head) and bool(_channels(head))

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        for channel in _channels(data[:SAMPLE]):
            bits, marked = CHANNELS[channel]
            for how, out in _readings(bits(data), marked):
                yield f"text bits ({channel}: {how})", out
