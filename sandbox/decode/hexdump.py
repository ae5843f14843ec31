"""Hex dumps as tools print them: `xxd`, `hexdump -C`, `hexdump`/`od -x` (16-bit words) and
`od -A x -t x1z`, with offsets and ASCII columns, one block of consecutive dump lines per output
(label "hexdump", or "hexdump@<offset>" for a block inside larger text such as a log or a serial
console).  A dump's ASCII column cuts reads every 16 characters, so without this decoder a read
printed as a dump is never whole anywhere."""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

# A dump line: an offset of 4-16 hex digits (xxd adds a colon), then hex tokens of 1-4 bytes;
# the rest of the line (more tokens, the ASCII column) is checked in Python, once per such line.
# An offset alone ends a `hexdump` and tells how far a '*' (the line above, repeated) reached.
_LINE = re.compile(rb"(?m)^[ \t]*([0-9a-fA-F]{4,16})(:?)(?:[ \t]+([0-9a-fA-F]{2,8}(?:[ \t][^\r\n]*)?))?"
                   rb"[ \t]*\r?$|^(\*)[ \t]*\r?$")
# What the first dump line starts with, found by a scan that skips to each line break (~650 MB/s
# on FASTQ text): views without it, nearly all text, cost no more.
_FIRST = rb"[ \t]*[0-9a-fA-F]{4,16}:?[ \t]+[0-9a-fA-F]{2}"
_AT_START = re.compile(_FIRST)
_AFTER_BREAK = re.compile(rb"\n" + _FIRST)
_HEX = re.compile(rb"(?:[0-9a-fA-F]{2}){1,4}")
MIN_BYTES = 32  # the correlator's smallest window: a shorter dump is no evidence
# Repeated lines a '*' stands for are filled in, at most this many bytes per '*' (beyond the
# budget's own bound): `hexdump -C` of a 1 GiB file of zeros is three lines.
MAX_FILL = 16 << 20


def _bytes_of(colon: bytes, rest: bytes) -> bytes | None:
    """The bytes one dump line shows, or None when the line is not one."""
    if colon:                                         # xxd: two spaces before the ASCII column
        area = rest.split(b"  ", 1)[0]
    elif rest.rstrip().endswith(b"|"):                # hexdump -C: |ASCII| (the first '|' opens it)
        area = rest[: rest.index(b"|")]
    elif rest.rstrip().endswith(b"<"):                # od -t x1z: >ASCII<
        area = rest[: rest.find(b">")]
    else:                                             # hexdump, od -x: 16-bit words, no ASCII column
        area = rest
    tokens = area.split()
    if not tokens or not all(_HEX.fullmatch(t) for t in tokens):
        return None
    if colon or len(tokens[0]) == 2:
        return binascii.unhexlify(b"".join(tokens))
    # words without a colon (hexdump, od -x) are little-endian: "4341" is b"AC"
    return b"".join(binascii.unhexlify(t)[::-1] for t in tokens)


class _Block:
    """Consecutive dump lines being assembled."""

    def __init__(self, start: int):
        self.start = start
        self.parts: list[bytes] = []
        self.size = 0
        self.offsets: list[bytes] = []   # offset texts of the first lines: hex or octal (od)
        self.last = b""          # the last line's bytes and offset text ('*' repeats it)
        self.at = b""
        self.star = False

    def base(self) -> int:
        """16, or 8 for `od`'s default octal offsets (told by the first two lines' step)."""
        if len(self.offsets) >= 2 and len(self.parts) >= 1:
            step = len(self.parts[0])
            a, b = self.offsets[0], self.offsets[1]
            if int(b, 16) - int(a, 16) != step and set(a + b) <= set(b"01234567") and int(b, 8) - int(a, 8) == step:
                return 8
        return 16


class HexdumpDecoder(Decoder):
    name = "hexdump"
    text = True
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return text.looks_textual(data) and _first_line(data) >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        first = _first_line(data)
        if first < 0:
            return
        block: _Block | None = None
        line_end = -2
        for m in _LINE.finditer(data, first):
            if block is not None and m.start() != line_end + 1:
                yield from _emit(block, data, budget)
                block = None
            line_end = m.end()
            if m.group(4):                                 # '*': the line above repeats
                if block is not None:
                    block.star = True
                continue
            if m.group(3) is None:                         # an offset alone: the dump's end
                if block is not None and block.star:
                    _fill(block, m.group(1), budget)
                continue
            shown = _bytes_of(m.group(2), m.group(3))
            if shown is None:
                if block is not None:
                    yield from _emit(block, data, budget)
                    block = None
                continue
            if block is None:
                block = _Block(m.start())
            if block.star:
                _fill(block, m.group(1), budget)
            if len(block.offsets) < 2:
                block.offsets.append(m.group(1))
            block.parts.append(shown)
            block.size += len(shown)
            block.last = shown
            block.at = m.group(1)
            if budget.hit:
                break
        if block is not None:
            yield from _emit(block, data, budget)


def _first_line(data: bytes) -> int:
    """Where the first line that could be a dump line starts, or -1."""
    if _AT_START.match(data):
        return 0
    m = _AFTER_BREAK.search(data)
    return m.start() + 1 if m else -1


def _fill(block: _Block, offset: bytes, budget: Budget) -> None:
    """The lines a '*' left out: the last line repeated up to the next line's offset."""
    block.star = False
    if not block.last:
        return
    base = block.base()
    try:
        missing = int(offset, base) - int(block.at, base) - len(block.last)
    except ValueError:
        return
    if missing <= 0 or missing % len(block.last):
        return
    room = max(0, min(MAX_FILL, budget.remaining - block.size))
    if missing > room:
        budget.exhausted(None if room < MAX_FILL else f"hexdump fill {MAX_FILL >> 20} MiB", missing - room)
        missing = room - room % len(block.last)
    block.parts.append(block.last * (missing // len(block.last)))
    block.size += missing


def _emit(block: _Block, data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
    if block.size < MIN_BYTES:
        return
    out = b"".join(block.parts)
    if len(out) > budget.remaining:
        budget.exhausted(left=len(out) - budget.remaining)
        out = out[: budget.remaining]
    whole = not data[: block.start].strip()
    yield ("hexdump" if whole else f"hexdump@{block.start}"), out
