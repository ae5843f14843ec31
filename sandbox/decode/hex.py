"""Hexadecimal text: a whole view of hex, or hex runs inside larger text (label "hex@<offset>")."""

from __future__ import annotations

import binascii
from collections.abc import Iterator

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

# 32 hex chars = 16 bytes, the floor below which decoded bytes are no evidence; it also skips
# UUIDs' 8-4-4-4-12 groups and short hashes in logs.
MIN_RUN = 32
HEX_WS = b"0123456789abcdefABCDEF \t\r\n:"
_SEPARATORS = b" \t\r\n:"


# Hex of any data is >= 5/8 digits for random bytes and ~70% for ASCII; a run of letters with the
# odd digit (FASTQ quality "AAAA6EEEE", words) is not hex.
MIN_DIGIT_SHARE = 0.25
_DIGITS = b"0123456789"
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _case_ok(bits: int) -> bool:
    """Real hex has digits and is all upper or all lower case ("Deadbeef" is a word, not hex)."""
    return bool(bits & text.DIGIT) and not (bits & text.LOWER and bits & text.UPPER)


def _bits(block: bytes) -> int:
    """The classes (digit, lower, upper case) ``block`` holds."""
    return ((text.DIGIT if len(block.translate(None, b"0123456789")) < len(block) else 0)
            | (text.LOWER if len(block.translate(None, b"abcdef")) < len(block) else 0)
            | (text.UPPER if len(block.translate(None, b"ABCDEF")) < len(block) else 0))


def _digits_ok(block: bytes) -> bool:
    return len(block) - len(block.translate(None, _DIGITS)) >= MIN_DIGIT_SHARE * len(block)


class HexDecoder(Decoder):
    name = "hex"
    text = True
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        """Text, or binary bytes with a run of hex digits inside."""
        return text.looks_textual(data) or text.has_encoded_run(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if len(data) >= MIN_RUN and not data[:256].translate(None, HEX_WS):
            stripped = data.strip()
            if not stripped.translate(None, HEX_WS):
                block = stripped.translate(None, _SEPARATORS)
                if len(block) % 2 == 0 and _case_ok(_bits(block[:4096])) and _digits_ok(block[:4096]):
                    yield "hex", binascii.unhexlify(block)
                    return
        # in binary bytes the byte before or after a run is a hex digit by chance (of the other case, too):
        # such a run is read from both starts, to both ends
        binary = not text.looks_textual(data)
        shifts = (0, 1) if binary else (0,)
        pieces: list[tuple[int, bytes]] = []     # the runs as found, for the joins
        found = text.runs(data, text.HEX, MIN_RUN, need=text.DIGIT)
        if binary:
            yield from _records(data, found)     # first: a run a record, each decoded alone, can reach the members' limit
        for start, end, bits in found:
            spans = {(a, b - (b - a) % 2) for a in (start + k for k in shifts) for b in (end - k for k in shifts)}
            for a, b in sorted(spans):
                block = data[a:b]
                if len(block) >= MIN_RUN and _case_ok(_bits(block) if binary else bits) and _digits_ok(block):
                    yield f"hex@{a}", binascii.unhexlify(block)
                    if (a, b) == (start, end - (end - start) % 2):
                        pieces.append((a, block))
        yield from _joined(data, pieces)


def _records(data: bytes, found: list[tuple[int, int, int]]) -> Iterator[tuple[str, bytes]]:
    """Lines of records of one size in binary bytes (``text.strided_lines``), read joined: hex of a gzip
    of reads 64 digits a record after 6 random bytes was read a run at a time, half a byte off where a
    header's byte was a digit."""
    lines = text.strided_lines([(start, end) for start, end, _ in found])
    if lines:
        block = b"".join(data[a:b - (b - a) % 2] for a, b in lines)
        if _digits_ok(block):
            yield f"hex records@{lines[0][0]}", binascii.unhexlify(block)


# Runs of one length, three at least, are read joined as chunks of one text (as base64's are).
JOIN_COUNT = 3
MAX_JOINS = 8   # lengths joined in one view, the most repeated first


def _joined(data: bytes, pieces: list[tuple[int, bytes]]) -> Iterator[tuple[str, bytes]]:
    """Runs of one length (a chunk a request line, a log line, a name of its own) are one text cut up:
    read joined in order, with the shorter run where the next would be (its end: when they come a line
    of one layout each, at the same distance).  Hex of reads 60 characters a request method or a line,
    each decoded alone, 30 bytes at a time, was clean."""
    by_length: dict[int, list[int]] = {}
    for i, (_, piece) in enumerate(pieces):
        by_length.setdefault(len(piece), []).append(i)
    groups = sorted((idx for idx in by_length.values() if len(idx) >= JOIN_COUNT), key=len, reverse=True)
    for idx in groups[:MAX_JOINS]:
        chosen = [pieces[i][1] for i in idx]
        starts = [pieces[i][0] for i in idx]
        strides = {b - a for a, b in zip(starts, starts[1:], strict=False)}
        if len(strides) == 1:
            at = starts[-1] + strides.pop()
            end = at
            while end < len(data) and end - at < len(chosen[0]) and data[end] in _HEX_DIGITS:
                end += 1
            end -= (end - at) % 2
            if at < end:
                chosen.append(data[at:end])
        yield f"hex joined@{starts[0]}", binascii.unhexlify(b"".join(chosen))
