"""Text written in a few codes of several characters: each code as one symbol (label "codes (...)").

The correlator reads bases written in four other symbols where a symbol is a byte, a character, or a
word between separators (``words``).  Bases written in Morse (``.- -.-. --. -``, a space or a slash
between), as pairs of punctuation (``()[]<>{}``, spaced or not), as pairs of letters run together
(``xqzkwv``) or as three-digit character codes run together (``065067071``) replayed clean: no symbol
was a byte, and no token a word.  A view of few byte values (MAX_DISTINCT_BYTES among its first 256:
text has more) whose lines split, at a separator or every 2 to 4 bytes from each line's start (of the
widths that give fewest codes, the widest), into MAX_CODES codes or fewer (MIN_CODES of them at least
in its first 4 KiB; of MAX_CODE_LENGTH bytes at most, more than one on average, spelled with
MAX_CODE_BYTES byte values at most: words are many, longer and spelled with more letters) is read a
code a symbol: each code its number from 0x80 as codes first appear, line breaks
kept.  A view of bases and line breaks alone is read as it is; of bases and digits, by ``runlength``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

MAX_DISTINCT_BYTES = 16   # byte values among a view's first 256 (prose and FASTQ: 30-60)
MAX_CODES = 16
MIN_CODES = 96            # codes the sample holds
MAX_CODE_LENGTH = 8
MAX_CODE_BYTES = 12       # byte values the codes are spelled with (Morse: 2; digits: 10)
SAMPLE = 4096
WIDTHS = (2, 3, 4)
SEPARATORS = {b" ": "spaces", b"/": "slashes", b"|": "bars", b",": "commas", b";": "semicolons", b"\t": "tabs"}
FIRST_ID = 0x80           # codes' numbers: past ASCII, so line breaks stay line breaks
MAX_IDS = 128
_BASES_ONLY = b"ACGTNacgtn\r\n"
_DIGITS = b"0123456789\r\n"
_BASES_AND_DIGITS = _BASES_ONLY + _DIGITS
_LINE = re.compile(rb"[^\r\n]+")


def _way(sample: bytes) -> tuple[bytes, int] | None:
    """How a sample is written in codes: (the separator, 0) or (b"", their width 2-4: of the widths whose
    codes are fewest, the widest); None."""
    lines = _LINE.findall(sample if len(sample) < SAMPLE else sample[:sample.rfind(b"\n") + 1] or sample)
    if not lines:
        return None
    for separator in SEPARATORS:
        if separator not in sample:
            continue
        codes = [c for line in lines for c in line.split(separator) if c]
        if _few(codes) and sum(map(len, codes)) > len(codes):
            return separator, 0
    fewest: tuple[int, int] | None = None
    for width in WIDTHS:
        if any(len(line) % width for line in lines):
            continue
        codes = [line[i:i + width] for line in lines for i in range(0, len(line), width)]
        if _few(codes) and (fewest is None or len(set(codes)) <= fewest[0]):
            fewest = len(set(codes)), width
    return (b"", fewest[1]) if fewest else None


def _few(codes: list[bytes]) -> bool:
    """MIN_CODES codes or more, MAX_CODES kinds of them at most, short, made of MAX_CODE_BYTES byte values
    at most (words are many, longer, and spelled with more letters)."""
    kinds = set(codes)
    return (len(codes) >= MIN_CODES and len(kinds) <= MAX_CODES and max(map(len, kinds)) <= MAX_CODE_LENGTH
            and len(set(b"".join(kinds))) <= MAX_CODE_BYTES)


def _codes_of(line: bytes, separator: bytes, width: int, cut: bool) -> Iterator[bytes]:
    """A line's codes, one at a time (a line of megabytes makes no list); a last code the view's end may
    have cut left out."""
    if separator:
        tokens = re.finditer(rb"[^" + re.escape(separator) + rb"]+", line)
        last = None
        for token in tokens:
            if last is not None:
                yield last
            last = token.group()
        if last is not None and not (cut and not line.endswith(separator)):
            yield last
    else:
        for i in range(0, len(line) - len(line) % width * cut, width):
            yield line[i:i + width]


def read(data: bytes, separator: bytes, width: int, budget: Budget) -> bytes | None:
    """The view a code a symbol (None where it holds more than MAX_IDS codes: no code)."""
    ids: dict[bytes, int] = {}
    out = bytearray()
    for match in _LINE.finditer(data):
        cut = match.end() == len(data)          # a last line the view's end may cut: its last code too
        for code in _codes_of(match.group(), separator, width, cut):
            number = ids.get(code)
            if number is None:
                if len(ids) >= MAX_IDS:
                    return None
                number = ids[code] = FIRST_ID + len(ids)
            out.append(number)
            if len(out) >= budget.remaining:
                budget.exhausted(left=len(data) - match.start())
                return bytes(out[:budget.remaining])
        if not cut:
            out.append(0x0A)
    return bytes(out)


class CodesDecoder(Decoder):
    name = "codes"
    text = True
    unstructured = True
    reapply = False      # its output is numbers, not codes

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = data[:256]
        if len(set(head[:64])) > MAX_DISTINCT_BYTES or len(set(head)) > MAX_DISTINCT_BYTES or not head.translate(None, _BASES_ONLY) or not text.printable(head):
            return False
        if not head.translate(None, _BASES_AND_DIGITS) and head.translate(None, _DIGITS):
            return False        # bases and counts: run-length's
        return _way(data[:SAMPLE]) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        way = _way(data[:SAMPLE])
        if way is None:
            return
        separator, width = way
        out = read(data, separator, width, budget)
        if out:
            yield (f"codes ({SEPARATORS[separator]} between)" if separator else f"codes ({width} bytes each)"), out
