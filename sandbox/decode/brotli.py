"""Brotli (RFC 7932): HTTP "br" bodies and gRPC/SDK payloads.

Brotli has no magic number, so the check is a trial decode.  About 1 in 12 random buffers
"decodes" as an uncompressed meta-block, i.e. as a verbatim copy of itself: output found
verbatim in the input is no decoding.  A stream after a length or a header of the sender's own (a
brotli of reads after 4, 8 or 16 bytes) replayed clean: the trial is also made at the usual sizes
of such a header (OFFSETS; a microsecond each).  So did streams one after the other, each after its
length (records of 4 KiB of reads): where a stream ends before the view, the decoder refuses what
follows, so it is fed a piece at a time, then a byte at a time, to its end; the next stream is looked
for after it (MAX_STREAMS at most).
"""

from __future__ import annotations

from collections.abc import Iterator

import brotli as _brotli

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import status_label

TRIAL_INPUT = 1024  # enough to get past the stream header and the first meta-block header
MIN_OUTPUT = 32  # shorter clean decodes are chance hits
TEXT_PROBE = 64  # compressed bytes are not text: 64 printable bytes in a row never start a stream
PROBE = 64  # output bytes looked up near the input's start, after <= 16 header bytes (see docstring)
OFFSETS = (0, 2, 4, 8, 16)  # where a stream may start: a length of 2, 4 or 8 bytes, or a header of 16
STEP = 256  # bytes fed at a time where a stream may end before the view does
MAX_STREAMS = 1024  # streams read from one view, one after the other


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


def _start(data: bytes, pos: int = 0) -> int | None:
    """Where a brotli stream starts, at ``pos`` or after a header of one of OFFSETS' sizes, or None."""
    if len(data) - pos < 4 or text.printable(data[pos:pos + TEXT_PROBE]):
        return None
    for offset in OFFSETS:
        if len(data) < pos + offset + 4:
            return None
        if _trial(data, pos + offset):
            return pos + offset
    return None


def _drained(d: _brotli.Decompressor, piece: bytes, cap: int) -> int:
    """Bytes ``piece`` makes (all of them, up to past ``cap``), dropped as they come."""
    made = len(d.process(piece, output_buffer_limit=1 << 16))
    while made <= cap and not d.is_finished() and not d.can_accept_more_data():
        made += len(d.process(b"", output_buffer_limit=1 << 16))
    return made


def _end(data: bytes, at: int, cap: int) -> int | None:
    """Where the stream at ``at`` ends, where other bytes follow it in the view (the decoder refuses
    input past a stream's end): fed STEP bytes at a time, then the piece it failed on a byte at a time
    (the stream decoded twice).  None: it runs to the view's end, or makes more than ``cap`` first."""
    d, fed, made = _brotli.Decompressor(), at, 0
    while fed < len(data):
        try:
            made += _drained(d, data[fed:fed + STEP], cap)
        except _brotli.error:
            break
        fed += len(data[fed:fed + STEP])
        if made > cap or d.is_finished():
            return fed if d.is_finished() and fed < len(data) else None
    else:
        return None
    d = _brotli.Decompressor()
    try:
        _drained(d, data[at:fed], cap)
        for i in range(fed, min(len(data), fed + STEP)):
            _drained(d, data[i:i + 1], cap)
            if d.is_finished():
                return i + 1
    except _brotli.error:
        return None
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
            at = _start(data, pos)
            if at is None or budget.remaining <= 0:
                return
            end = _end(data, at, budget.remaining) or len(data)
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
