"""Bounded streaming decompression shared by the compressed formats.

Input is fed in slices and every call carries a ``max_length``, so output never exceeds the
step's budget however small the input (a 1 MiB gzip of 1 GiB of zeros allocates at most the
budget).  Results say how the stream ended: ok, truncated (input ran out: partial data is still
evidence), corrupt (a data error after some output) or limit (the budget stopped it).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:  # ISA-L inflates ~2.5x faster than zlib with the same API
    from isal import isal_zlib as _zlib

    _ZLIB_ERRORS: tuple[type[Exception], ...] = (zlib.error, _zlib.error)
except ImportError:  # pragma: no cover - isal is a declared dependency
    _zlib = zlib
    _ZLIB_ERRORS = (zlib.error,)

# Input slice per call: unused_data/unconsumed_tail copies are at most this long, so a stream of
# thousands of members (BGZF) stays linear; and a data error loses only the output of one slice
# (zlib returns nothing from the call that fails).
CHUNK = 32 * 1024
# On a data error the stream is inflated again in slices this small, to recover the output up
# to the damage.
RETRY_CHUNK = 512
# Output recovered before a data error is reported only from this size: random bytes that
# happen to pass a header check inflate a few hundred bytes of noise before failing.
MIN_CORRUPT_OUTPUT = 1024


@dataclass(slots=True)
class Drained:
    data: bytes
    status: str  # "ok" | "truncated" | "corrupt" | "limit"
    members: int = 0
    end: int = 0  # input offset just after the last complete member


def _join(pieces: list[bytes]) -> bytes:
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def inflate(
    data: bytes,
    wbits: int,
    cap: int,
    next_member: Callable[[bytes], bool] | None = None,
    chunk: int = CHUNK,
) -> Drained:
    """Inflate a zlib/gzip/raw-deflate stream; with ``next_member``, also the members after it.

    ``next_member(head)`` says whether the bytes after a finished member start another one
    (gzip magic): then they are inflated too (multi-member gzip, BGZF).
    """
    mv = memoryview(data)
    n = len(data)
    pieces: list[bytes] = []
    total = pos = members = end = 0
    dec: Any = _zlib.decompressobj(wbits)
    pending: bytes | memoryview = b""
    started = False
    status = "ok"
    while True:
        if dec.eof:
            members += 1
            rest = dec.unused_data
            end = pos - len(rest)
            if len(rest) < 3 and pos < n:
                rest = bytes(rest) + bytes(mv[pos : pos + chunk])
                pos = min(n, pos + chunk)
            if next_member is None or not rest or not next_member(bytes(rest[:3])):
                break
            dec = _zlib.decompressobj(wbits)
            pending, started = rest, False
            continue
        if not pending:
            if pos >= n:
                status = "truncated" if started else "ok"
                break
            pending = mv[pos : pos + chunk]
            pos += len(pending)
        room = cap - total
        if room <= 0:
            status = "limit"
            break
        try:
            out = dec.decompress(pending, room)
        except _ZLIB_ERRORS:
            if chunk > RETRY_CHUNK:
                return inflate(data, wbits, cap, next_member, RETRY_CHUNK)
            status = "corrupt"
            break
        started = True
        if out:
            pieces.append(out)
            total += len(out)
        pending = dec.unconsumed_tail
        if total >= cap and not dec.eof:
            status = "limit"
            break
    return Drained(_join(pieces) if pieces else b"", status, members, end)


def unpack(
    factory: Callable[[], Any],
    errors: tuple[type[Exception], ...],
    data: bytes,
    cap: int,
    next_member: Callable[[bytes], bool] | None = None,
) -> Drained:
    """Drain a bz2/lzma-style decompressor (``decompress(data, max_length)``, ``needs_input``)."""
    mv = memoryview(data)
    n = len(data)
    pieces: list[bytes] = []
    total = pos = members = 0
    dec = factory()
    feed: bytes | memoryview = b""
    started = False
    status = "ok"
    while True:
        if dec.eof:
            members += 1
            rest = dec.unused_data
            if len(rest) < 16 and pos < n:
                rest = rest + bytes(mv[pos : pos + CHUNK])
                pos = min(n, pos + CHUNK)
            if next_member is None or not rest or not next_member(rest[:16]):
                break
            dec, feed, started = factory(), rest, False
        elif dec.needs_input and not feed:
            if pos >= n:
                status = "truncated" if started else "ok"
                break
            feed = mv[pos : pos + CHUNK]
            pos += len(feed)
        room = cap - total
        if room <= 0:
            status = "limit"
            break
        try:
            out = dec.decompress(feed, room)
        except errors:
            status = "corrupt"
            break
        feed = b""
        started = True
        if out:
            pieces.append(out)
            total += len(out)
        if total >= cap and not dec.eof:
            status = "limit"
            break
    return Drained(_join(pieces) if pieces else b"", status, members)


def keep(drained: Drained) -> bool:
    """Whether a drained stream is worth a view (corrupt noise is not)."""
    if not drained.data:
        return False
    return drained.status != "corrupt" or len(drained.data) >= MIN_CORRUPT_OUTPUT
