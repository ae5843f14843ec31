"""Byte sources for readers: plain or gzip-compressed files, read in large chunks.

``Chunks`` keeps a window of the file in memory and parses records out of it with
``struct.unpack_from``, so memory stays bounded (one chunk plus one record) on multi-GB files.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import BinaryIO

try:  # isal's zlib is a drop-in that inflates several times faster
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - isal is a project dependency
    _zlib = zlib

GZIP_MAGIC = b"\x1f\x8b"
# Bytes read per call: large enough to amortise Python per-call cost, small enough to stay bounded.
CHUNK = 1 << 20
# Errors the gzip/isal/zlib stack raises on damaged compressed input.
STREAM_ERRORS = (OSError, EOFError, ValueError, zlib.error, _zlib.error)
# Decompressed bytes produced per raw chunk at most: bounds memory on a decompression bomb.
MAX_INFLATE = 4 * CHUNK


class GzipStream:
    """Incremental gzip reader (all members) that hands out what it decoded before any damage.

    ``gzip.GzipFile.read`` raises on a truncated stream and loses the partial output; here the
    bytes before the damage come out first and the damage surfaces as ``EOFError`` after them.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self._d = _zlib.decompressobj(wbits=31)
        self._pending = b""      # compressed input not yet inflated
        self._out = bytearray()  # inflated bytes not yet handed out
        self._done = False
        self._started = False    # inside a member (its header seen)
        self._damage: Exception | None = None

    def _inflate(self) -> None:
        if not self._pending:
            self._pending = self.raw.read(CHUNK)
            if not self._pending:
                self._done = True
                if self._started:
                    raise EOFError("compressed file ended before the end-of-stream marker")
                return
        self._started = True
        self._out += self._d.decompress(self._pending, MAX_INFLATE)
        self._pending = self._d.unconsumed_tail
        if self._d.eof:
            rest = self._d.unused_data + self._pending
            self._d = _zlib.decompressobj(wbits=31)
            self._started = False
            self._pending = rest.lstrip(b"\0")   # zero padding after the last member

    def read(self, n: int) -> bytes:
        try:
            while len(self._out) < n and not self._done:
                self._inflate()
        except STREAM_ERRORS as exc:
            self._done = True
            self._damage = exc     # hand out what was decoded first; the damage surfaces after it
        if not self._out and self._damage is not None:
            exc, self._damage = self._damage, None
            raise exc
        out = bytes(self._out[:n])
        del self._out[:n]
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        """Forward relative seeks only (what the secrets scan needs)."""
        if whence != 1 or offset < 0:
            raise OSError("gzip stream seeks forward only")
        while offset > 0:
            got = self.read(min(offset, CHUNK))
            if not got:
                break
            offset -= len(got)
        return 0


class FollowFile:
    """A capture file another process is still writing (a live tap's recording).

    ``read`` returns what is on disk now; while ``more_coming`` is set an empty read means "not
    yet", not end of file, and readers wait (see ``Chunks.need``).  ``finish`` says the writer
    has stopped: what is left is read, then the end is real.
    """

    def __init__(self, path: Path) -> None:
        self.raw = open(path, "rb", buffering=0)  # noqa: SIM115 - unbuffered: every read asks the OS again
        self.more_coming = True

    def read(self, n: int) -> bytes:
        return self.raw.read(n) or b""

    def finish(self) -> None:
        self.more_coming = False

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()


def open_source(path: Path) -> tuple[BinaryIO, BinaryIO, bool]:
    """Open ``path``; returns (decompressed stream, raw file for progress, compressed?)."""
    raw = open(path, "rb")  # noqa: SIM115 - handed to the Capture, closed by it
    head = raw.read(2)
    raw.seek(0)
    if head == GZIP_MAGIC:
        return GzipStream(raw), raw, True
    return raw, raw, False


class Chunks:
    """A sliding window over a stream: ``need(n)`` makes ``n`` bytes available at ``pos``."""

    __slots__ = ("f", "buf", "pos", "base", "eof", "error")

    def __init__(self, f: BinaryIO, start: bytes = b"", base: int = 0) -> None:
        self.f = f
        self.buf = start
        self.pos = 0
        self.base = base          # stream offset of buf[0]
        self.eof = False
        self.error: str | None = None   # set when the decompressor failed (damaged gzip)

    @property
    def offset(self) -> int:
        """Stream offset of ``pos``."""
        return self.base + self.pos

    def need(self, n: int) -> bool:
        """True when ``n`` bytes are available at ``pos``; False at end of stream (or damage)."""
        while len(self.buf) - self.pos < n:
            if self.eof:
                return False
            try:
                more = self.f.read(max(CHUNK, n))
            except STREAM_ERRORS as exc:
                self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                more = b""
            if not more:
                if getattr(self.f, "more_coming", False):
                    return False      # a live recording: the writer has not got this far yet
                self.eof = True
                return False
            self.base += self.pos
            self.buf = self.buf[self.pos:] + more
            self.pos = 0
        return True

    @property
    def remaining(self) -> int:
        return len(self.buf) - self.pos
