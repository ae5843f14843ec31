"""zlib streams (RFC 1950): HTTP "deflate", PNG/PDF streams, many SDKs' compress(); also inside
other bytes (label "zlib@<offset>").

A vendor's bundle format, a Java ``Deflater`` or .NET ``ZLibStream`` output after a header of its
own, chunks each after their length: zlib streams away from a view's start replayed clean (their
bytes look random only above the opaque-volume threshold).  Inside other bytes a stream is looked
for at the headers 32 KiB-window writers emit (78 01, 78 5e, 78 9c, 78 da: about four places per
64 KiB of random bytes) and taken where its first KiB inflates; it counts when it ends with its
Adler-32 checked, or, cut by the payload's end, from a KiB of output.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder, embedded_streams
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


class ZlibDecoder(Decoder):
    name = "zlib"
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        if _at_start(data):
            return True
        find = _Candidates(data)
        at = find(data, b"", 1)
        while at >= 0 and not _header_ok(data, at):
            at = find(data, b"", at + 1)
        return at >= 0 or find.stopped_at >= 0  # decode says where it had to stop

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        find = _Candidates(data)
        yield from embedded_streams(data, "zlib", b"", _header_ok, budget, lambda d, at: "zlib",
                                    find=find, most=MOST)
        if find.stopped_at >= 0:
            budget.exhausted(f"{MIN_CANDIDATES} + {CANDIDATES_PER_KIB} zlib candidates a KiB",
                             len(data) - find.stopped_at)
