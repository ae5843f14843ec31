"""Brotli (RFC 7932): HTTP "br" bodies and gRPC/SDK payloads.

Brotli has no magic number, so the check is a trial decode.  About 1 in 12 random buffers
"decodes" as an uncompressed meta-block, i.e. as a verbatim copy of itself: output found
verbatim in the input is no decoding.  A stream after a length or a header of the sender's own (a
brotli of reads after 4, 8 or 16 bytes) replayed clean: the trial is also made at the usual sizes
of such a header (``base.HEADER_SIZES``; a microsecond each).  So did streams one after the other, each after its
length (records of 4 KiB of reads): where a stream ends before the view, the decoder refuses what
follows, so it is fed in pieces of 256, 16, then 1 byte to its end; the next stream is looked for
after it (MAX_STREAMS at most).  Where the 2, 4 or 8 bytes before a stream are its length (either
byte order), that is its end: small streams one after another (records of 30 bytes) are read so.
"""

from __future__ import annotations

from collections.abc import Iterator

import brotli as _brotli

from sandbox.decode import text
from sandbox.decode.base import HEADER_SIZES, LENGTH_SIZES, Budget, Decoder, declared_lengths, drain
from sandbox.decode.codec import status_label

TRIAL_INPUT = 1024  # enough to get past the stream header and the first meta-block header
MIN_OUTPUT = 32  # shorter clean decodes are chance hits
TEXT_PROBE = 64  # compressed bytes are not text: 64 printable bytes in a row never start a stream
PROBE = 64  # output bytes looked up near the input's start, after <= 16 header bytes (see docstring)
STEP = 256  # bytes a trial feeds at a time (a stream may end before the view does)
STEPS = (256, 16, 1)  # pieces a stream is fed in to find its end, each size from where the last failed
MAX_STREAMS = 1024  # streams read from one view, one after the other
RECORD_OUT = 64 << 20  # output a record is decoded to, to see it end where its length says


def _trial(data: bytes, at: int) -> bool:
    """Whether a brotli stream starts at ``at``: its first TRIAL_INPUT bytes decode to MIN_OUTPUT bytes
    or more, no copy of its own (fed STEP bytes at a time: a stream that ends sooner, with other bytes
    after it, fails on the piece it ends in)."""
    d, out = _brotli.Decompressor(), b""
    for i in range(at, min(len(data), at + TRIAL_INPUT), STEP):
        try:
            out += d.process(data[i:i + STEP], output_buffer_limit=1 << 16)
        except _brotli.error:
            break
        if d.is_finished() or len(out) >= 1 << 16:
            break
    return len(out) >= MIN_OUTPUT and out[:PROBE] not in data[at:at + PROBE + 16]


def _record(data: bytes, at: int, end: int) -> bool:
    """Whether ``data[at:end]`` is one brotli stream, whole (a record a length declared): it ends there,
    no error before, MIN_OUTPUT bytes or more and no copy of its own (more than RECORD_OUT: taken to
    be, for the budget to stop)."""
    d, made = _brotli.Decompressor(), 0
    try:
        first = d.process(data[at:min(at + STEP, end)], output_buffer_limit=1 << 16)
        if first[:PROBE] and first[:PROBE] in data[at:at + PROBE + 16]:
            return False
        made = len(first) + _drained(d, b"", RECORD_OUT)
        for i in range(at + STEP, end, STEP):
            if made > RECORD_OUT or d.is_finished():
                break
            made += _drained(d, data[i:min(i + STEP, end)], RECORD_OUT)
    except _brotli.error:
        return False
    return made > RECORD_OUT or d.is_finished() and made >= MIN_OUTPUT


def _start(data: bytes, pos: int = 0) -> tuple[int, int | None] | None:
    """Where a brotli stream starts, at ``pos`` or after a header of one of ``HEADER_SIZES``, and where it
    ends where a length before it says (a record: small streams one after another are read so), or
    None."""
    if len(data) - pos < 4 or text.printable(data[pos:pos + TEXT_PROBE]):
        return None
    for offset in HEADER_SIZES:
        at = pos + offset
        if len(data) < at + 4:
            return None
        for length in declared_lengths(data, pos, offset, 4) if offset in LENGTH_SIZES else ():
            if _record(data, at, at + length):
                return at, at + length
        if _trial(data, at):
            return at, None
    return None


def _drained(d: _brotli.Decompressor, piece: bytes, cap: int) -> int:
    """Bytes ``piece`` makes (all of them, up to past ``cap``), dropped as they come."""
    made = len(d.process(piece, output_buffer_limit=1 << 16))
    while made <= cap and not d.is_finished() and not d.can_accept_more_data():
        made += len(d.process(b"", output_buffer_limit=1 << 16))
    return made


def _end(data: bytes, at: int, cap: int) -> int | None:
    """Where the stream at ``at`` ends, where other bytes follow it in the view (the decoder refuses
    input past a stream's end): fed in pieces of each of STEPS in turn, from the stream's start to the
    last piece it took (the stream decoded once a step).  None: it runs to the view's end, or makes
    more than ``cap`` first."""
    good = at                           # the stream takes every byte before this
    for step in STEPS:
        d, fed, made = _brotli.Decompressor(), at, 0
        try:
            if good > at:
                made = _drained(d, data[at:good], cap)
                fed = good
            while fed < len(data) and made <= cap:
                made += _drained(d, data[fed:fed + step], cap)
                fed = min(len(data), fed + step)
                if d.is_finished():
                    return fed if fed < len(data) else None
        except _brotli.error:
            good = fed                  # it failed on the piece after: a smaller step from here
            continue
        return None                     # to the view's end without an end, or past the cap
    return None


class BrotliDecoder(Decoder):
    name = "brotli"
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _start(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        pos = 0
        for _ in range(MAX_STREAMS):
            found = _start(data, pos)
            if found is None or budget.remaining <= 0:
                return
            at, end = found
            end = end or _end(data, at, budget.remaining) or len(data)
            stream = data[at:end] if at or end < len(data) else data
            got = drain("brotli", stream, budget)
            verbatim = got.data[:PROBE] in stream[: PROBE + 16]
            if got.status != "limit" and (got.status == "corrupt" or len(got.data) < MIN_OUTPUT or verbatim):
                return
            if got.data:
                yield status_label("brotli" + (f"@{at}" if at else ""), got.status), got.data
            if end >= len(data) or got.status == "limit":
                return
            pos = end
