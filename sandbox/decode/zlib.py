"""zlib streams (RFC 1950): HTTP "deflate", PNG/PDF streams, many SDKs' compress(); also inside
other bytes (label "zlib@<offset>").

A vendor's bundle format, a Java ``Deflater`` or .NET ``ZLibStream`` output after a header of its
own, chunks each after their length: zlib streams away from a view's start replayed clean (their
bytes look random only above the opaque-volume threshold).  Inside other bytes a stream is looked
for at the headers 32 KiB-window writers emit (78 01, 78 5e, 78 9c, 78 da: about four places per
64 KiB of random bytes) and taken where its first KiB inflates; it counts when it ends with its
Adler-32 checked, or, cut by the payload's end, from a KiB of output.

A stream with a preset dictionary (``compressobj(zdict=...)``: its header's FDICT bit, then the
dictionary's Adler-32) replayed clean: no decoder could inflate it without the dictionary, and none said
so.  At a view's start or after 2, 4, 8 or 16 bytes of the sender's own, its first 16 KiB inflating, it is
read with a dictionary of 32 KiB of zeros (what it copies from the dictionary comes out as zeros; what
it holds itself, as it is), and said not read for what it copied (label "zlib (preset dictionary)").
A stream of fewer than MIN_DICTIONARY_INPUT bytes is read so but not said: public traces hold such
chance headers over a few random bytes (an MQTT message's), and a few hundred bytes of a stream copy
little that matters.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import HEADER_SIZES, Budget, Decoder, embedded_streams
from sandbox.decode.codec import ZLIB_ERRORS, zlib_header
from sandbox.index import _kernels

# The headers of a 32 KiB window at the four compression levels' flags (zlib, Java, .NET, Go).
HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
PROBE = 1024  # input inflated to tell a stream from a chance header
MIN_PROBE_OUTPUT = 64
# Streams taken from one view: a chunked format puts one per chunk (the expander's member limit
# still applies).
MOST = 1024
# Candidates tried in one view: chance headers stand once per 16 KiB of random bytes.
MIN_CANDIDATES = 256
CANDIDATES_PER_KIB = 1


def _at_start(data: bytes) -> bool:
    return len(data) >= 3 and zlib_header(data)


class _Candidates:
    """``find`` for ``embedded_streams``: the next of the four headers at or after ``start``, -1 when
    none is.  Each header's next place is kept, so the view is scanned once per header, however many
    candidates it holds; and each candidate costs a trial inflate, so past ``CANDIDATES_PER_KIB`` a
    KiB of the view (random bytes hold one per 16 KiB) the rest is left, and ``stopped_at`` says
    where: bytes full of chance headers cannot buy CPU time, nor hide a stream silently."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.ahead = dict.fromkeys(HEADERS, -2)  # -2: not looked for yet; -1: none left
        self.left = MIN_CANDIDATES + len(data) * CANDIDATES_PER_KIB // 1024
        self.stopped_at = -1

    def __call__(self, _data: bytes, _magic: bytes, start: int) -> int:
        stale = tuple(h for h, at in self.ahead.items() if at != -1 and at < start)
        if stale:  # one pass for all of them
            out = np.empty(len(stale), dtype=np.int64)
            _kernels.first_of(self.data, stale, start, out)
            self.ahead.update(zip(stale, out.tolist(), strict=True))
        found = [at for at in self.ahead.values() if at >= 0]
        if not found:
            return -1
        if self.left <= 0:
            self.stopped_at = min(found)
            return -1
        self.left -= 1
        return min(found)


def _header_ok(data: bytes, at: int) -> bool:
    if at == 0:
        return _at_start(data)
    if data[at: at + 2] not in HEADERS:
        return False
    d = zlib.decompressobj()
    try:
        out = d.decompress(data[at: at + PROBE], 1 << 16)
    except ZLIB_ERRORS:
        return False
    return len(out) >= MIN_PROBE_OUTPUT or (d.eof and bool(out))


ZEROS = bytes(32 << 10)    # the dictionary a stream with a preset one is read with
DICTIONARY_TRIAL = 16 << 10     # input such a stream must inflate without an error (or end within)
MIN_DICTIONARY_INPUT = 256      # below this, what it makes must be mostly other than zeros, and is not said


def dictionary_header(head: bytes) -> bool:
    """A zlib header with a preset dictionary: method 8, a window of 32 KiB at most, FDICT, a multiple of 31."""
    return len(head) >= 6 and head[0] & 0x0F == 8 and head[0] >> 4 <= 7 and bool(head[1] & 0x20) and (
        head[0] << 8 | head[1]) % 31 == 0


def plausible(out: bytes, used: int) -> bool:
    """Whether what a stream read with ZEROS made is a stream's, not chance bits': MIN_DICTIONARY_INPUT
    bytes read, or most of what it made not the dictionary's zeros (a few random bytes after a chance
    header copy zeros from it and end: a public MQTT trace's 78-byte message, an ERSPAN trace's 16)."""
    return used >= MIN_DICTIONARY_INPUT or len(out) - out.count(0) >= len(out) / 2


def dictionary_start(data: bytes) -> int:
    """Where a stream with a preset dictionary starts (HEADER_SIZES), its first DICTIONARY_TRIAL bytes
    inflating with ZEROS; -1 where none does."""
    for at in HEADER_SIZES:
        if len(data) > at and data[at] & 0x0F == 8 and dictionary_header(data[at:at + 6]):
            d = zlib.decompressobj(-15, zdict=ZEROS)
            try:            # (copies of zeros read random bytes far: all the trial, not a KiB, must inflate)
                out = d.decompress(data[at + 6:at + 6 + DICTIONARY_TRIAL], 1 << 20)
            except ZLIB_ERRORS:
                continue
            # ended with its Adler-32 at the view's end (random bits end a block early, far before it)
            after = len(d.unused_data) + max(0, len(data) - (at + 6 + DICTIONARY_TRIAL))
            used = min(len(data), at + 6 + DICTIONARY_TRIAL) - at - 6 - len(d.unused_data)
            if len(out) >= MIN_PROBE_OUTPUT and (after <= 8 if d.eof else not d.unconsumed_tail) and plausible(out, used):
                return at
    return -1


def with_zero_dictionary(stream: bytes | memoryview, budget: Budget, what: str, beyond: int = -1) -> tuple[bytes, str]:
    """A raw deflate ``stream`` that copies from a preset dictionary, read with ZEROS for it within the
    budget (its status: "", "(truncated)" or "(corrupt)"); what it read said not read as ``what``.  Where
    it makes ``beyond`` bytes or fewer so (it read as far without), nothing: b"", ""."""
    d = zlib.decompressobj(-15, zdict=ZEROS)
    out = b""
    try:
        out = d.decompress(stream, budget.remaining + 1)
        status = "" if d.eof else "(truncated)"
    except ZLIB_ERRORS:
        status = "(corrupt)"
    used = len(stream) - len(d.unused_data) - len(d.unconsumed_tail)
    if len(out) <= beyond or status == "(corrupt)" and beyond >= 0 or not plausible(out, used):
        return b"", ""
    if used >= MIN_DICTIONARY_INPUT:    # (a shorter one may be chance bits: read, not said; see the docstring)
        budget.not_read(f"{what} with a preset dictionary the rig does not have (what it copies from it read as zeros)",
                        used)
    if len(out) > budget.remaining:
        budget.exhausted(left=len(stream) - used)
        out = out[:budget.remaining]
    budget.inflated += max(0, len(out) - used)      # (made beyond what it read: see ``base.charged``)
    return out, status


class ZlibDecoder(Decoder):
    name = "zlib"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        if _at_start(data) or dictionary_start(data) >= 0:
            return True
        find = _Candidates(data)
        at = find(data, b"", 1)
        while at >= 0 and not _header_ok(data, at):
            at = find(data, b"", at + 1)
        return at >= 0 or find.stopped_at >= 0  # decode says where it had to stop

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        at = dictionary_start(data)
        if at >= 0:         # (then the streams after it, as in any view: a dictionary's hides none)
            out, status = with_zero_dictionary(memoryview(data)[at + 6:], budget, "zlib stream")
            if out:
                yield "zlib (preset dictionary)" + status + (f"@{at}" if at else ""), out
        find = _Candidates(data)
        yield from embedded_streams(data, "zlib", b"", _header_ok, budget, lambda d, at: "zlib",
                                    find=find, most=MOST)
        if find.stopped_at >= 0:
            budget.exhausted(f"{MIN_CANDIDATES} + {CANDIDATES_PER_KIB} zlib candidates a KiB",
                             len(data) - find.stopped_at)
