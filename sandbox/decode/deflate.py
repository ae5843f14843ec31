"""Raw deflate (RFC 1951) with no header: HTTP "deflate" from some servers, custom framings.

There is no magic number, so the check is a trial inflate: random bytes fail within a few
hundred bytes, while a real stream either ends cleanly or keeps producing output.  A stream
that starts with a "stored" block is not taken: that is how random bytes get through (the
block copies them verbatim), and stored content is visible in the input view anyway.

A stream may also follow a header of the writer's own (.NET's ``DeflateStream`` inside a vendor's
bundle format, chunks each after their length): it replayed clean.  So a binary view is tried at
its first ``HEADER_SPAN`` offsets too, and after each stream found, within ``FOLLOWING`` bytes of
its end ("deflate@<offset>").  Away from the start a stream must open with a block of its own
Huffman codes, read 64 bytes or more and have compressed (1.5 times its input or more).

A stream that copies from a preset dictionary (``compressobj(wbits=-15, zdict=...)``) errs with a copy
from before its start: it replayed clean.  Where the view's first 4 KiB so err and read with a
dictionary of zeros, or a stream found corrupt reads further with one, it is read so and said not read
for what it copied (label "deflate (preset dictionary)", as ``zlib``'s).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import GZIP_MAGIC, ZLIB_ERRORS, status_label, zlib_header
from sandbox.decode.zlib import ZEROS, plausible, with_zero_dictionary

RAW_WBITS = -15
# Trial inflate of this much input decides the sniff; cheap for any payload size.
TRIAL_INPUT = 4096
# Leftover after the end of the stream: a real deflate body ends within a few bytes of the payload.
MAX_TRAILING = 8
# Shorter clean decodes are chance hits (a 2-byte fixed-Huffman block is easy to hit).
MIN_OUTPUT = 32
# A stream cut by the end of the payload counts only from this much input: text and random bytes
# can read as a few dozen fixed-Huffman symbols before anything is invalid.
MIN_TRUNCATED_INPUT = 1024
# Compressed bytes are not text: 64 printable bytes in a row never start a real stream.
TEXT_PROBE = 64
HEADER_SPAN = 64
FOLLOWING = 16
MIN_RATIO = 1.5
# Away from the start a whole stream counts from this much input: random bits end a block (or
# repeat a few bytes) within a few dozen symbols more often than they survive 512 bits.
MIN_INPUT_AWAY = 64
DYNAMIC = 0x04  # BTYPE 10 in a block's first byte
TOO_FAR = "too far back"   # zlib's error for a copy from before the stream's start


def _compressed_at(data: bytes, at: int) -> bool:
    """Whether a raw deflate stream that compressed its input starts at ``at`` (away from the start):
    its first block has Huffman codes of its own (what encoders write for all but a few bytes; a
    table random bytes rarely complete)."""
    if data[at] & 0x06 != DYNAMIC:
        return False
    dec = zlib.decompressobj(RAW_WBITS)
    trial = memoryview(data)[at: at + TRIAL_INPUT]
    try:
        out = dec.decompress(trial, 1 << 16)
    except ZLIB_ERRORS:
        return False
    used = len(trial) - len(dec.unused_data) - len(dec.unconsumed_tail)
    if used < (MIN_INPUT_AWAY if dec.eof else MIN_TRUNCATED_INPUT):
        return False
    return len(out) >= MIN_OUTPUT and len(out) >= MIN_RATIO * used


def _stream_start(data: bytes) -> tuple[int, bool]:
    """Where a stream starts: 0, or after a short header of a binary view; -1 when none does; and whether
    it copies from a preset dictionary (at the start only).  Not kept between sniff and decode: a few
    trial inflates cost less than holding a view alive."""
    kind = _start_kind(data)
    if kind:
        return 0, kind == "dictionary"
    # a gzip member or a zlib stream has its own decoder (the deflate inside it would be read twice)
    wrapped = data.startswith(GZIP_MAGIC) or zlib_header(data)
    if len(data) < MIN_TRUNCATED_INPUT // 4 or wrapped or text.looks_textual(data):
        return -1, False
    return next((o for o in range(1, min(HEADER_SPAN, len(data) - 4) + 1) if _compressed_at(data, o)), -1), False


def _start_kind(data: bytes) -> str:
    """"stream" where a stream starts the view; "dictionary" where one does that copies from a preset
    dictionary (the trial errs with a copy from before its start, and passes read with ZEROS, what it
    makes ``plausible``); ""."""
    if len(data) < 4 or data[0] & 0x06 in (0x00, 0x06):  # stored first block; BTYPE 11 is reserved
        return ""
    if text.printable(data[:TEXT_PROBE]):
        return ""
    try:
        return "stream" if _trial(data, zlib.decompressobj(RAW_WBITS)) is not None else ""
    except ZLIB_ERRORS as exc:
        if TOO_FAR not in str(exc):
            return ""
    dec = zlib.decompressobj(RAW_WBITS, zdict=ZEROS)
    try:
        out = _trial(data, dec)
    except ZLIB_ERRORS:
        return ""
    read = min(len(data), TRIAL_INPUT) - len(dec.unused_data) - len(dec.unconsumed_tail)
    return "dictionary" if out is not None and plausible(out, read) else ""


def _trial(data: bytes, dec: zlib._Decompress) -> bytes | None:
    """What the view's first TRIAL_INPUT bytes make where they read as a stream, else None (errors raised)."""
    out = dec.decompress(data[:TRIAL_INPUT], 1 << 16)
    if dec.eof:
        trailing = len(data) - min(len(data), TRIAL_INPUT) + len(dec.unused_data)
        return out if len(out) >= MIN_OUTPUT and trailing <= MAX_TRAILING else None
    return out if len(out) >= MIN_OUTPUT and len(data) >= MIN_TRUNCATED_INPUT else None


def _chain(data: bytes, at: int, budget: Budget) -> Iterator[tuple[str, bytes]]:
    """The stream at ``at`` and those that follow it within FOLLOWING bytes of each one's end."""
    while at >= 0 and budget.remaining > 0:
        got = drain("deflate", memoryview(data)[at:], budget)
        if not got.data or (got.status == "corrupt" and len(got.data) < MIN_TRUNCATED_INPUT):
            return
        yield status_label(f"deflate@{at}", got.status), got.data
        if got.status != "ok":
            return
        end = at + got.end
        at = next((o for o in range(end, min(end + FOLLOWING, len(data) - 4)) if _compressed_at(data, o)), -1)


class DeflateDecoder(Decoder):
    name = "deflate"
    reapply = False
    embedded = True  # after a header: not in a view a structural decoder took apart

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _stream_start(data)[0] >= 0

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        at, dictionary = _stream_start(data)
        if dictionary:
            out, status = with_zero_dictionary(data, budget, "raw deflate stream")
            if out:
                yield "deflate (preset dictionary)" + status, out
            return
        if at != 0:
            yield from _chain(data, at, budget)
            return
        got = drain("deflate", data, budget)
        if got.status == "corrupt":     # a copy from before its start past the trial's bytes: a dictionary?
            out, status = with_zero_dictionary(data, budget, "raw deflate stream",
                                               beyond=max(len(got.data), MIN_TRUNCATED_INPUT))
            if out:
                yield "deflate (preset dictionary)" + status, out
                return
        chance = got.status == "corrupt" or len(got.data) < MIN_OUTPUT or (
            got.status == "truncated" and len(data) < MIN_TRUNCATED_INPUT)
        if got.data and (got.status == "limit" or not chance):
            yield status_label("deflate", got.status), got.data
