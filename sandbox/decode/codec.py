"""One bounded decompression layer for every compressed format and every caller.

The decoders (a gzip found inside a JSON string), HTTP content codings, gRPC messages and
WebSocket permessage-deflate all decompress through a ``Codec`` from here, under the one set of
limits in ``limits.py``: output is capped by an ``Allowance`` (the expansion ratio over the input
fed so far, with its floor, or a decoder's share of the expander's budget) and every decompressor
call carries a ``max_length`` (``DECODE_STEP``), so a 1 MiB gzip of 1 GiB of zeros never
allocates more than the allowance.

A codec is incremental: ``feed_split(data)`` returns ``(decoded, raw)``.  When decoding stops (the
allowance is spent, the data is corrupt, or bytes that start no stream follow the end of the last
one) everything decoded so far is kept and the input not decoded is handed back raw, from then on
too: a bomb must not hide the real bytes before it, and the raw rest can still match byte
fingerprints.  ``decompress`` runs a codec over a whole buffer, for the decoders.
"""

from __future__ import annotations

import bz2
import lzma
import re
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import brotli as _brotli
import cramjam
import inflate64
import lz4.frame
import pyppmd
import zstandard

from sandbox.decode import limits as _limits
from sandbox.decode.limits import DECODE_STEP, Limits
from sandbox.index import _kernels

try:  # ISA-L inflates ~2.5x faster than zlib with the same API
    from isal import isal_zlib as _zlib

    ZLIB_ERRORS: tuple[type[Exception], ...] = (zlib.error, _zlib.error)
except ImportError:  # pragma: no cover - isal is a declared dependency
    _zlib = zlib
    ZLIB_ERRORS = (zlib.error,)

# Input slice per decompressor call in ``decompress``: leftover copies are at most this long, so a
# stream of thousands of members (BGZF) stays linear, and a data error loses the output of one
# slice at most (zlib returns nothing from the call that fails).
CHUNK = 32 * 1024
# On a data error a buffer is decompressed again in slices this small, to recover the output up
# to the damage.
RETRY_CHUNK = 512
# Output recovered before a data error counts only from this size: random bytes that pass a
# header check inflate a few hundred bytes of noise before failing.
MIN_CORRUPT_OUTPUT = 1024
# zstd has no output cap per call, and an RLE block turns 4 input bytes into 128 KiB (RFC 8878
# Block_Maximum_Size): input goes in slices of room / 2^15 bytes (at least MIN_ZSTD_FEED), so one
# call stays near the allowance (what passes it is cut off).
ZSTD_MAX_BLOCK_RATIO = 1 << 15
MIN_ZSTD_FEED = 16
# zstd -19 uses 8 MiB windows; larger (--long/--ultra) would make one frame allocate more than an
# allowance's worth before producing a byte.
ZSTD_MAX_WINDOW = 1 << 25
# zstd decodes whole blocks: up to one block (128 KiB + header) of input may sit in the decoder
# with no output yet; when decoding stops, that much earlier input goes out raw again.
ZSTD_HOLD = 128 * 1024 + 64
# Deflate64 (zip's method 9, 7z's coder 040109: Windows compresses large files with it) has
# lengths up to 65,538 bytes for a symbol of 18 bits or more, and its inflater no output cap:
# input goes in slices of room / 2^15 bytes (at least MIN_ZSTD_FEED), as zstd's.
DEFLATE64_MAX_RATIO = 1 << 15
# PPMd's model size is the stream's to declare (7z: 4 bytes, zip: 1-256 MiB): larger models are not
# built, and the PPMd of zip (variant I) loops on a model under 1 MiB, which zip cannot declare.
PPMD_MIN_MEMORY = 1 << 20
PPMD_MAX_MEMORY = 1 << 28
PPMD_ERRORS = (ValueError, EOFError, SystemError, pyppmd.PpmdError)  # SystemError: pyppmd on garbage
# Bytes looked at after the end of a stream to tell zero padding (tar, BGZF blocks padded by
# writers) from another stream or trailing data.
PADDING_PROBE = 64
# Bytes needed to tell whether another bz2/xz stream starts (the longest magic, bz2's, is 10).
STREAM_HEAD = 16

GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 and CM=deflate, the only method in use
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZ2_MAGIC = b"BZh"
LZ4_MAGIC = b"\x04\x22\x4d\x18"
# Snappy's framing format starts with a stream identifier chunk; xerial's (snappy-java: Kafka,
# Hadoop, Spark) with a magic, a version and a compatible version, then blocks with big-endian lengths.
# compress(1) (.Z, Content-Encoding: compress): the magic, then a byte of the largest code width
# (9-16 bits) and block mode (0x80); 0x60 are reserved.
LZW_MAGIC = b"\x1f\x9d"
# lzip (.lz): members of "LZIP", its one version, a coded dictionary size, a raw LZMA stream of fixed
# properties ended by its end marker, and a trailer (CRC, data size, member size).
LZIP_MAGIC = b"LZIP\x01"
LZIP_HEADER, LZIP_TRAILER = 6, 20
LZIP_MIN_DICT, LZIP_MAX_DICT = 1 << 12, 1 << 29  # what lzip(1) writes and reads
LZW_RESERVED = 0x60
# LZW output is made into a buffer this many times the input (at least LZW_FIRST_OUTPUT), doubled
# while the allowance lets it grow: text compresses 2-4x, and a bomb stops at the allowance.
LZW_FIRST_RATIO = 8
LZW_FIRST_OUTPUT = 1 << 16
LZW_INPUT_ENDED, LZW_OUTPUT_FULL, LZW_CORRUPT, LZW_END_CODE = range(4)
SNAPPY_MAGIC = b"\xff\x06\x00\x00sNaPpY"
XERIAL_MAGIC = b"\x82SNAPPY\x00"
XERIAL_HEADER = len(XERIAL_MAGIC) + 8
# A snappy block's copies are at most 64 bytes for a 3-byte tag: no block expands past this ratio,
# so a declared size beyond it is not a block (and nothing larger is ever allocated for one).
SNAPPY_MAX_RATIO = 22
# Framed chunks hold at most 64 KiB; xerial blocks are 32 KiB by default, Hadoop's 256 KiB.
SNAPPY_MAX_BLOCK = 1 << 24
# bzip2: "BZh" + block size 1-9, then a block magic (pi) or the end-of-stream magic (sqrt pi).
BZ2_STREAM = re.compile(rb"BZh[1-9](?:1AY&SY|\x17\x72\x45\x38\x50\x90)")


def gzip_member(head: bytes) -> bool:
    return head[:3] == GZIP_MAGIC


def zlib_header(head: bytes) -> bool:
    """A zlib stream starts here: method 8, a window of 32 KiB at most, no preset dictionary, and
    the two bytes a multiple of 31."""
    if len(head) < 2:
        return False
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and not flg & 0x20 and (cmf << 8 | flg) % 31 == 0


def lzw_header(head: bytes) -> bool:
    """A compress(1) stream starts here: the magic, code widths of 9 to 16 bits, no reserved bits."""
    return head[:2] == LZW_MAGIC and len(head) >= 3 and not head[2] & LZW_RESERVED and 9 <= head[2] & 0x1F <= 16


def lzip_dictionary(coded: int) -> int:
    """The dictionary size an lzip header byte codes: 2^(bits 0-4) less (bits 5-7) sixteenths of
    it; 0 when that is outside lzip's range (no member)."""
    base = 1 << (coded & 0x1F)
    size = base - (base >> 4) * (coded >> 5)
    return size if LZIP_MIN_DICT <= size <= LZIP_MAX_DICT else 0


def lzip_member(data: bytes | memoryview, at: int = 0) -> bool:
    """An lzip member starts at ``at``: its magic and a dictionary size lzip uses."""
    return bytes(data[at: at + len(LZIP_MAGIC)]) == LZIP_MAGIC and len(data) >= at + LZIP_HEADER \
        and lzip_dictionary(data[at + 5]) > 0


def zstd_frame(head: bytes) -> bool:
    """A zstd frame or a skippable frame (magic 0x184D2A50..5F, little-endian) starts here."""
    return head[:4] == ZSTD_MAGIC or (len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18")


def bz2_stream(head: bytes) -> bool:
    return BZ2_STREAM.match(head) is not None


def xz_stream(head: bytes) -> bool:
    return head.startswith(XZ_MAGIC)


def lz4_frame(head: bytes) -> bool:
    """An LZ4 frame or a skippable frame (magic 0x184D2A50..5F, little-endian) starts here."""
    return head[:4] == LZ4_MAGIC or (len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18")


def snappy_declared(block: bytes | memoryview) -> tuple[int, int]:
    """(uncompressed size, header bytes) of a raw snappy block: its leading varint; (-1, 0) when
    that is no size a block of this length can declare."""
    size = shift = 0
    for at in range(min(5, len(block))):
        size |= (block[at] & 0x7F) << shift
        if not block[at] & 0x80:
            fits = size <= SNAPPY_MAX_RATIO * len(block) + 16
            return (size, at + 1) if fits else (-1, 0)
        shift += 7
    return -1, 0


def snappy_block(block: bytes | memoryview) -> bytes:
    """A raw snappy block decompressed whole (its size is declared and bounded by its length);
    ValueError or cramjam.DecompressionError when it is not one."""
    size, _ = snappy_declared(block)
    if size < 0:
        raise ValueError("snappy: declared size out of range")
    out = bytearray(size)
    if cramjam.snappy.decompress_raw_into(bytes(block), out) != size:
        raise ValueError("snappy: block shorter than declared")
    return bytes(out)


@dataclass(slots=True)
class Allowance:
    """Output a codec may produce: ``limits``' expansion ratio over the input fed so far (with its
    floor), and/or a fixed ``cap`` (a decoder's share of the expander's budget)."""

    limits: Limits | None = None
    cap: int | None = None
    cap_why: str = ""

    def allowed(self, fed: int) -> int:
        if self.limits is None:
            return self.cap if self.cap is not None else 1 << 62
        by_ratio = self.limits.ratio_allowance(fed)
        return by_ratio if self.cap is None else min(self.cap, by_ratio)

    def why(self, fed: int) -> str:
        if self.limits is not None and (self.cap is None or self.limits.ratio_allowance(fed) <= self.cap):
            return f"expansion ratio {self.limits.max_ratio}x"
        return self.cap_why


def streaming() -> Allowance:
    """The allowance of a stream decoded as it arrives (HTTP bodies, gRPC, WebSocket)."""
    return Allowance(_limits.DEFAULT_LIMITS)


class Stop(Exception):
    """Decoding stops here; ``rest`` is the input left undecoded (handed back raw)."""

    def __init__(self, status: str, reason: str, rest: bytes | memoryview = b"") -> None:
        super().__init__(reason)
        self.status = status  # "limit" | "corrupt" | "trailing" | "truncated"
        self.rest = bytes(rest)


def _trailing(rest: bytes | memoryview) -> Stop:
    return Stop("trailing", "data after the end of the stream", rest)


class Codec:
    """One compressed stream (or members/frames in a row), decoded incrementally.

    ``status``: "ok" while decoding or after a clean end, else why it stopped: "limit" (the
    allowance), "corrupt" (a data error), "trailing" (bytes that start no stream followed the
    end of the last one) or "truncated" (input ended inside a stream with bytes still held).
    ``failed`` says it for people ("gzip: limit: expansion ratio 100x reached"), ``note`` remarks
    on a stream decoded to its cut end ("stream truncated").  ``fed`` counts the input given,
    ``produced`` the output; ``ended_at`` is the input offset after the last complete member and
    ``members`` how many ended; ``rest_bytes`` the input handed back raw.
    """

    name = ""
    errors: tuple[type[Exception], ...] = ()

    def __init__(self, allowance: Allowance | None = None) -> None:
        self.allowance = allowance or streaming()
        self.status = "ok"
        self.failed = ""
        self.note = ""
        self.hit = ""  # the limit that stopped it ("expansion ratio 100x"), when status is "limit"
        self.fed = 0
        self.produced = 0
        self.members = 0
        self.ended_at = 0
        self.rest_bytes = 0
        self.consumed = 0  # input bytes surely decoded (a decompressor may hold some it took)
        self._out: list[bytes] = []
        self._head = b""  # input held back: too few bytes yet to tell what comes next
        self._pos = 0  # input offset of the next byte handed to the decompressor

    # -- interface
    def feed_split(self, data: bytes | memoryview) -> tuple[bytes, bytes]:
        """(decoded, raw): raw is input handed back undecoded because decoding has stopped."""
        decoded, raw = self.feed_parts(data)
        return (decoded[0] if len(decoded) == 1 else b"".join(decoded)), raw

    def feed_parts(self, data: bytes | memoryview) -> tuple[list[bytes], bytes]:
        """``feed_split`` with the decoded bytes as the decompressor's pieces (no join)."""
        if self.failed:
            self.rest_bytes += len(data)
            return [], bytes(data)
        self.fed += len(data)
        try:
            self._feed(data)
        except Stop as stop:
            return self._stopped(stop)
        except self.errors as exc:
            return self._stopped(Stop("corrupt", str(exc) or type(exc).__name__, self._unsent(data)))
        return self._take(), b""

    def end_split(self) -> tuple[bytes, bytes]:
        """(decoded, raw) still held at the end of the input."""
        decoded, raw = self.end_parts()
        return (decoded[0] if len(decoded) == 1 else b"".join(decoded)), raw

    def end_parts(self) -> tuple[list[bytes], bytes]:
        if self.failed:
            return [], b""
        try:
            self._end()
        except Stop as stop:
            return self._stopped(stop)
        except self.errors as exc:
            return self._stopped(Stop("corrupt", str(exc) or type(exc).__name__))
        return self._take(), b""

    def feed(self, data: bytes | memoryview) -> bytes:
        """Decoded bytes, followed (once decoding stopped) by the input left undecoded."""
        decoded, raw = self.feed_split(data)
        return decoded + raw if raw else decoded

    def end(self) -> bytes:
        """What is still held at the end of the input, decoded then raw."""
        decoded, raw = self.end_split()
        return decoded + raw if raw else decoded

    def restart_counts(self) -> None:
        """Count the ratio afresh (a new WebSocket message on a shared deflate context)."""
        self.fed = self.produced = 0

    # -- for subclasses
    def _feed(self, data: bytes | memoryview) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        return None

    def _room(self) -> int:
        return self.allowance.allowed(self.fed) - self.produced

    def _after_member(self, data: bytes | memoryview, head: int,
                      starts: Callable[[bytes], bool] | None) -> bytes | memoryview | None:
        """After a member ended: skip zero padding; the bytes the next member starts at, or None to
        wait for ``head`` bytes; trailing data when what follows starts no member."""
        zeros = _skip_padding(data)
        self._pos += zeros
        data = data[zeros:]
        if not data:
            return None
        if starts is None:
            raise _trailing(data)
        if len(data) < head:
            self._head = bytes(data)
            return None
        if not starts(bytes(data[:head])):
            raise _trailing(data)
        return data

    def _input_ended(self, inside: bool, held: bytes) -> None:
        """The input ended: between streams, bytes ``held`` back are trailing data; inside one, the
        stream was cut (a truncated upload) unless the allowance had stopped it."""
        if not inside:
            if held:
                raise _trailing(held)
            return
        if self._room() <= 0:
            raise self._limit(b"")
        self.note = f"{self.name}: stream truncated"

    def _keep(self, chunk: bytes) -> bool:
        """Keep decoded output, cut to the allowance; True when something was cut."""
        room = self._room()
        cut = len(chunk) > room
        if cut:
            chunk = chunk[: max(0, room)]
        if chunk:
            self._out.append(chunk)
            self.produced += len(chunk)
        return cut

    def _limit(self, rest: bytes | memoryview) -> Stop:
        self.hit = self.allowance.why(self.fed)
        return Stop("limit", f"limit: {self.hit} reached", rest)

    def _unsent(self, data: bytes | memoryview) -> bytes | memoryview:
        """Input to hand back raw after a data error: all of this call's (we cannot tell more)."""
        return data

    def _stopped(self, stop: Stop) -> tuple[list[bytes], bytes]:
        self.status = stop.status
        self.failed = f"{self.name}: {stop}"
        self.rest_bytes += len(stop.rest)
        return self._take(), stop.rest

    def _take(self) -> list[bytes]:
        out, self._out = self._out, []
        return out


def _skip_padding(data: bytes | memoryview) -> int:
    """Zero bytes at the start of ``data`` (padding after a stream), when that is all it starts with."""
    if bytes(data[:PADDING_PROBE]).strip(b"\0"):
        return 0
    return len(data) - len(bytes(data).lstrip(b"\0"))


FEXTRA = 0x04           # a gzip member's FLG bit: an extra field follows the fixed header (RFC 1952 2.3.1)
GZIP_FIXED = 10          # the fixed header; XLEN's two bytes after it
MIN_EXTRA = 32           # extra fields this long are kept (BGZF's is 6 bytes; a timestamp or id a few dozen)
MAX_EXTRAS = 64          # members whose extra fields are kept, 64 KiB each at most


class ZlibCodec(Codec):
    """gzip (members in a row, BGZF), zlib, raw deflate; and HTTP "deflate", which servers send
    zlib-wrapped or raw (``wbits=None``: decided by the first two bytes).

    A gzip member's extra field is bytes of the writer's choosing no decompression outputs: those of
    ``MIN_EXTRA`` bytes or more are kept in ``extras`` (a gzip of reads in one replayed clean)."""

    errors = ZLIB_ERRORS

    def __init__(self, name: str, wbits: int | None, members: bool = False,
                 allowance: Allowance | None = None) -> None:
        super().__init__(allowance)
        self.name = name
        self.wbits = wbits
        self.members_follow = members
        self._d: Any = None  # None between members (and before the first)
        self._pending = False  # the last call filled its max_length: output may be waiting
        self.extras: list[bytearray] = []
        self._extra_span = (0, 0)  # input offsets of the extra field being kept

    def _keep_extra(self, data: bytes | memoryview) -> None:
        """Copy what ``data`` (from input offset ``_pos``) holds of the extra field being kept."""
        start, end = self._extra_span
        have = start + len(self.extras[-1])
        if have < end and have < self._pos + len(data):
            self.extras[-1] += data[max(0, have - self._pos): end - self._pos]

    def _extra_at(self, data: bytes | memoryview) -> None:
        """A member begins with ``data``: keep its extra field when it is long enough."""
        if data[3] & FEXTRA and len(self.extras) < MAX_EXTRAS:
            size = data[GZIP_FIXED] | data[GZIP_FIXED + 1] << 8
            if size >= MIN_EXTRA:
                self.extras.append(bytearray())
                self._extra_span = (self._pos + GZIP_FIXED + 2, self._pos + GZIP_FIXED + 2 + size)

    def _begin(self, data: bytes | memoryview) -> bytes | memoryview | None:
        """Before a member: skip padding, check what starts; the bytes to decode from, or None
        when more are needed."""
        head = GZIP_FIXED + 2 if self.members_follow else len(GZIP_MAGIC)   # a member is 18 bytes at least
        if self.members:
            begun = self._after_member(data, head, gzip_member if self.members_follow else None)
            if begun is None:
                return None
            data = begun
        wbits = self.wbits
        if wbits is not None and wbits < 0:
            self._d = _zlib.decompressobj(wbits)
            return data
        if len(data) < max(3, head):  # the header decides (and ISA-L reports a bad one only later)
            self._head = bytes(data)
            return None
        zlib_header = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        if wbits is None:
            wbits = 15 if zlib_header else -15
        elif not (zlib_header if wbits == 15 else gzip_member(bytes(data[:3]))):
            raise Stop("corrupt", "incorrect header check", data)
        if self.members_follow:
            self._extra_at(data)
        self._d = _zlib.decompressobj(wbits)
        return data

    def _feed(self, data: bytes | memoryview) -> None:
        if self._head:
            data, self._head = self._head + bytes(data), b""
        while data or self._pending:
            if self._d is None:
                begun = self._begin(data)
                if begun is None:
                    return
                data = begun
            room = self._room()
            if room <= 0:
                raise self._limit(data)
            if self._extra_span[1] > self._pos:
                self._keep_extra(data)
            n = len(data)
            step = min(room, DECODE_STEP)
            out = self._d.decompress(data, step)
            self._pending = len(out) == step
            if self._d.eof:
                rest = self._d.unused_data
                self._pos += n - len(rest)
                self.members += 1
                self.ended_at = self._pos
                self._d, self._pending = None, False
                data = rest
            else:
                data = self._d.unconsumed_tail
                self._pos += n - len(data)
            self.consumed = self._pos
            self._keep(out)

    def _end(self) -> None:
        if self._d is None and self._head and not self.members:  # too short to be a stream
            raise Stop("truncated", "stream truncated", self._head)
        self._input_ended(self._d is not None, self._head)


class BrotliCodec(Codec):
    """Brotli (RFC 7932): one stream, output capped per call so one small input cannot balloon."""

    errors = (_brotli.error,)

    def __init__(self, allowance: Allowance | None = None, name: str = "br") -> None:
        super().__init__(allowance)
        self.name = name
        self._d = _brotli.Decompressor()

    def _feed(self, data: bytes | memoryview) -> None:
        if self._d.is_finished():
            raise _trailing(data)
        data = bytes(data)
        feed = data
        self.consumed = self.fed - len(data)
        # each call drains the decoder, so on a stop all it may hold is this call's input
        while True:
            room = self._room()
            if room <= 0:
                raise self._limit(data)
            self._keep(self._d.process(feed, output_buffer_limit=min(room, DECODE_STEP)))
            feed = b""
            if self._d.is_finished():
                self.members, self.ended_at = 1, self.fed
                self.consumed = self.fed
                return
            if self._d.can_accept_more_data():
                return

    def _end(self) -> None:
        self._input_ended(bool(self.fed) and not self._d.is_finished(), b"")


class ZstdCodec(Codec):
    """Zstandard frames in a row, skippable frames skipped; input fed in slices sized so one call
    stays within the allowance.  Input of the current frame may sit in the decoder with no output
    yet; when decoding stops, up to ZSTD_HOLD bytes of it go out raw again."""

    name = "zstd"
    errors = (zstandard.ZstdError,)

    def __init__(self, allowance: Allowance | None = None) -> None:
        super().__init__(allowance)
        self._dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        self._d: Any = None  # None between frames (and before the first)
        self._recent: deque[bytes] = deque()  # the current frame's last input, >= ZSTD_HOLD
        self._recent_size = 0
        self._data: bytes | memoryview = b""  # what this call decodes (head included)
        self._start = 0  # where the current frame starts in it
        self._at = 0  # where the slice being decoded starts in it

    def _feed(self, data: bytes | memoryview) -> None:
        if self._head:
            data, self._head = self._head + bytes(data), b""
        self._data = view = memoryview(data)
        self._start = self._at = 0
        while self._at < len(view):
            if self._d is None and not self._begin(view):
                return
            room = self._room()
            if room <= 0:
                raise self._limit(self._unsent(data))
            size = max(MIN_ZSTD_FEED, min(CHUNK, room // ZSTD_MAX_BLOCK_RATIO))
            piece = view[self._at : self._at + size]
            chunk = self._d.decompress(piece)
            self._at += len(piece)
            if self._d.eof:
                self._at -= len(self._d.unused_data)
                self.members += 1
                self.ended_at = self._pos + self._at
                self._d = None
                self._recent.clear()
                self._recent_size = 0
            self.consumed = max(self._pos + self._start, self._pos + self._at - ZSTD_HOLD)
            if self._keep(chunk):
                raise self._limit(self._unsent(data))
        self._hold(view)
        self._pos += len(view)

    def _begin(self, view: memoryview) -> bool:
        """At a frame boundary: skip zero padding, start the next frame; False to wait or stop."""
        if self.members:
            zeros = _skip_padding(view[self._at :])
            self._at += zeros
        rest = view[self._at :]
        if not rest:
            return False
        if len(rest) < len(ZSTD_MAGIC):
            self._head = bytes(rest)
            self._pos += len(view) - len(rest)
            self._at = len(view)
            return False
        if not zstd_frame(bytes(rest[:4])):
            raise _trailing(rest)
        self._d = self._dctx.decompressobj()
        self._start = self._at
        return True

    def _hold(self, view: memoryview) -> None:
        """Keep the tail of the current frame's input, to hand back raw if decoding stops."""
        if self._d is None:
            return
        keep = max(self._start, len(view) - ZSTD_HOLD)
        if keep < len(view):
            self._recent.append(bytes(view[keep:]))
            self._recent_size += len(self._recent[-1])
        while self._recent and self._recent_size - len(self._recent[0]) >= ZSTD_HOLD:
            self._recent_size -= len(self._recent.popleft())

    def _unsent(self, data: bytes | memoryview) -> bytes:
        """From the current slice on, plus the frame's input the decoder may still hold."""
        view = self._data
        held = b"".join(self._recent) + bytes(view[self._start : self._at])
        return held[-ZSTD_HOLD:] + bytes(view[self._at :])

    def _end(self) -> None:
        self._input_ended(self._d is not None, self._head)
        if self._d is not None and self._recent_size:  # a partial block never decodes: keep it, raw
            raise Stop("truncated", "stream truncated", b"".join(self._recent)[-ZSTD_HOLD:])


class Deflate64Codec(Codec):
    """Deflate64 (a raw stream): fed in slices sized so one call stays within the allowance.  Its
    inflater says where a stream ended only to within the slice that ended it (``ended_at`` is that
    slice's start); input after the slice that ended it is handed back as trailing data."""

    name = "deflate64"
    errors = (ValueError,)

    def __init__(self, allowance: Allowance | None = None) -> None:
        super().__init__(allowance)
        self._d = inflate64.Inflater()

    def _feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        at = 0
        while at < len(view):
            if self._d.eof:
                raise _trailing(view[at:])
            room = self._room()
            if room <= 0:
                raise self._limit(view[at:])
            size = max(MIN_ZSTD_FEED, min(CHUNK, room // DEFLATE64_MAX_RATIO))
            piece = view[at: at + size]
            out = self._d.inflate(bytes(piece))
            self.consumed = self._pos + at
            if self._d.eof:
                self.members, self.ended_at = 1, self._pos + at
            at += len(piece)
            if self._keep(out):
                raise self._limit(view[at:])
        self._pos += len(view)

    def _unsent(self, data: bytes | memoryview) -> bytes | memoryview:
        return data

    def _end(self) -> None:
        self._input_ended(bool(self.fed) and not self._d.eof, b"")


class BufferedCodec(Codec):
    """bz2 and xz/lzma: decompressors with ``decompress(data, max_length)`` and ``needs_input``
    that buffer input inside; further streams follow while ``next_stream`` says so."""

    errors = (OSError, EOFError, ValueError, lzma.LZMAError)

    def __init__(self, name: str, factory: Callable[[], Any], next_stream: Callable[[bytes], bool] | None,
                 allowance: Allowance | None = None) -> None:
        super().__init__(allowance)
        self.name = name
        self._factory = factory
        self._next_stream = next_stream
        self._d: Any = None  # None between streams (and before the first)

    def _begin(self, data: bytes | memoryview) -> bytes | memoryview | None:
        """At a stream boundary: the bytes to decode from, or None to wait for more."""
        if self.members:
            begun = self._after_member(data, STREAM_HEAD, self._next_stream)
            if begun is None:
                return None
            data = begun
        self._d = self._factory()
        return data

    def _feed(self, data: bytes | memoryview) -> None:
        if self._head:
            data, self._head = self._head + bytes(data), b""
        while True:
            if self._d is None:
                if not data:
                    return
                begun = self._begin(data)
                if begun is None:
                    return
                data = begun
            if not data and self._d.needs_input:
                return
            room = self._room()
            if room <= 0:
                raise self._limit(data)
            self.consumed = self._pos
            self._pos += len(data)
            out = self._d.decompress(data, min(room, DECODE_STEP))
            data = b""
            if self._d.eof:
                data = self._d.unused_data
                self._pos -= len(data)
                self.members += 1
                self.ended_at = self.consumed = self._pos
                self._d = None
            self._keep(out)

    def _end(self) -> None:
        self._input_ended(self._d is not None, self._head)


class _Lz4Frames:
    """python-lz4's frame decompressor with bz2's and lzma's interface: its own ``needs_input`` is
    True when a call used all its input even if output is still held, and its ``unused_data`` None
    when a frame ends with the input."""

    def __init__(self) -> None:
        self._d = lz4.frame.LZ4FrameDecompressor()
        self.needs_input = True

    def decompress(self, data: bytes | memoryview, max_length: int) -> bytes:
        out = self._d.decompress(data, max_length)
        self.needs_input = len(out) < max_length  # a call that filled max_length may hold more
        return out

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data or b""


class Lz4Codec(BufferedCodec):
    """LZ4 frames in a row (skippable frames skipped); python-lz4 reports bad frames as RuntimeError."""

    errors = (*BufferedCodec.errors, RuntimeError)

    def __init__(self, allowance: Allowance | None = None) -> None:
        super().__init__("lz4", _Lz4Frames, lz4_frame, allowance)


class SnappyCodec(Codec):
    """Snappy streams: the framing format (chunks: stream identifier, compressed, uncompressed,
    padding, skippable) or xerial's (blocks with big-endian lengths), whichever the input starts
    with.  A chunk is decoded once whole; its block declares its size, which its length bounds."""

    name = "snappy"
    errors = (ValueError, cramjam.DecompressionError)

    def __init__(self, allowance: Allowance | None = None) -> None:
        super().__init__(allowance)
        self._buf = bytearray()
        self._xerial: bool | None = None  # which framing, once the first bytes said
        self._skip = 0  # bytes of a skippable chunk still to pass over

    def _feed(self, data: bytes | memoryview) -> None:
        self._buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        """Take one header or chunk off the buffer; False when more input is needed."""
        buf = self._buf
        if self._skip:
            n = min(self._skip, len(buf))
            self._drop(n)
            self._skip -= n
            return bool(self._buf) and not self._skip
        if self._xerial is None:
            if len(buf) < len(SNAPPY_MAGIC):
                return False
            if buf.startswith(XERIAL_MAGIC):
                if len(buf) < XERIAL_HEADER:
                    return False
                self._xerial = True
                self._drop(XERIAL_HEADER)
            elif buf.startswith(SNAPPY_MAGIC):
                self._xerial = False
            else:
                raise Stop("corrupt", "not a snappy stream", bytes(buf))
            self.members += 1
            return True
        if self._xerial:
            if len(buf) < 4:
                return False
            size, kind, start = int.from_bytes(buf[:4], "big"), 0, 4
        else:
            if len(buf) < 4:
                return False
            kind, size, start = buf[0], int.from_bytes(buf[1:4], "little"), 4
        if kind == 0xFF and not self._xerial:  # a stream identifier again: streams concatenated
            if not buf.startswith(SNAPPY_MAGIC):
                raise _trailing(bytes(buf))
            self._drop(len(SNAPPY_MAGIC))
            return True
        if 0x02 <= kind <= 0x7F or size > SNAPPY_MAX_BLOCK + 4 or (self._xerial and size == 0):
            raise _trailing(bytes(buf))  # reserved, unskippable: what follows is no chunk of ours
        if kind >= 0x80:  # padding, skippable
            self._drop(start)
            self._skip = size
            return True
        if len(buf) < start + size:
            return False
        body = memoryview(buf)[start + (0 if self._xerial else 4): start + size]
        try:
            chunk = snappy_block(body) if self._xerial or kind == 0 else bytes(body)
        finally:
            body.release()
        room = self._room()
        if room <= 0:
            raise self._limit(bytes(buf))
        self._drop(start + size)
        self.ended_at = self._pos
        if self._keep(chunk):
            raise self._limit(bytes(self._buf))
        return True

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._pos += n
        self.consumed = self._pos

    def _unsent(self, data: bytes | memoryview) -> bytes:
        return bytes(self._buf)

    def _end(self) -> None:
        if self._buf or self._skip:  # a chunk cut short: it never decodes, its bytes go out raw
            if self._room() <= 0:
                raise self._limit(bytes(self._buf))
            raise Stop("truncated", "stream truncated", bytes(self._buf))


class WholeCodec(Codec):
    """A format decoded once its input has ended (no framing says where a piece ends): the input is
    held, and handed back raw whole if decoding stops."""

    def __init__(self, allowance: Allowance | None = None) -> None:
        super().__init__(allowance)
        self._buf = bytearray()

    def _feed(self, data: bytes | memoryview) -> None:
        self._buf += data

    def _unsent(self, data: bytes | memoryview) -> bytes:
        return bytes(self._buf)


class SnappyRawCodec(WholeCodec):
    """One raw snappy block (HTTP "Content-Encoding: snappy", Prometheus remote write, Loki push):
    it has no framing, so it is decoded once the input ends."""

    name = "snappy"
    errors = (ValueError, cramjam.DecompressionError)

    def _end(self) -> None:
        if not self._buf:
            return
        try:
            out = snappy_block(self._buf)
        except self.errors as exc:  # the body goes on raw
            raise Stop("corrupt", str(exc), bytes(self._buf)) from None
        self.members, self.ended_at = 1, len(self._buf)
        if self._keep(out):
            self.consumed = 0
            raise self._limit(bytes(self._buf))
        self.consumed = len(self._buf)


class LzwCodec(WholeCodec):
    """compress(1)'s LZW (.Z files, HTTP's "compress" coding): a header, then codes to the end of
    the input (the format has no end marker), so it is decoded once the input ends."""

    name = "lzw"

    def _end(self) -> None:
        buf = bytes(self._buf)
        if not buf:
            return
        if not lzw_header(buf[:3]):
            raise Stop("truncated" if len(buf) < 3 else "corrupt", "not a compress stream", buf)
        got = lzw(buf, self._room(), start_bit=24, msb=False, max_bits=buf[2] & 0x1F, clear=bool(buf[2] & 0x80),
                  eod=False, early=False, groups=True)
        self.members, self.ended_at = 1, got.end
        self.consumed = got.read
        self._keep(got.data)
        if got.status == "limit":
            raise self._limit(buf[got.read:])
        if got.status == "corrupt":
            raise Stop("corrupt", "code out of the table", buf[got.read:])


class LzipCodec(WholeCodec):
    """lzip's members in a row, each a raw LZMA stream (lc 3, lp 0, pb 2) to its end marker between
    a header and a trailer; decoded once the input ends (the trailer only says where a member ends)."""

    name = "lzip"

    def _end(self) -> None:
        buf = bytes(self._buf)
        if not buf:
            return
        if not lzip_member(buf):
            raise Stop("truncated" if len(buf) < LZIP_HEADER else "corrupt", "not an lzip member", buf)
        at = 0
        while lzip_member(buf, at):
            params = {"id": lzma.FILTER_LZMA1, "lc": 3, "lp": 0, "pb": 2, "dict_size": lzip_dictionary(buf[at + 5])}
            room = self._room()
            got = raw_lzma([params], memoryview(buf)[at + LZIP_HEADER:], room, room)
            if self._keep(got.data) or (not got.members and len(got.data) >= room):
                raise self._limit(buf[at:])
            if not got.members:   # no end marker: damaged, or cut short
                if got.status == "corrupt":
                    raise Stop("corrupt", "LZMA data error", buf[at:])
                self.note = "lzip: stream truncated"
                return
            at = min(len(buf), at + LZIP_HEADER + got.end + LZIP_TRAILER)
            self.members += 1
            self.ended_at = self.consumed = at
        if at < len(buf):
            raise _trailing(buf[at:])


def lzw(data: bytes, cap: int, *, start_bit: int, msb: bool, max_bits: int, clear: bool, eod: bool, early: bool,
        groups: bool) -> Drained:
    """LZW codes of ``data`` from ``start_bit`` (see ``_kernels.lzw`` for the variants: compress(1),
    PDF and TIFF) to at most ``cap`` bytes.  The output buffer starts at LZW_FIRST_RATIO times the
    input and doubles, decoding again, while output fills it below ``cap``."""
    size = min(cap, max(LZW_FIRST_OUTPUT, LZW_FIRST_RATIO * len(data)))
    while True:
        out = bytearray(size)
        made, stop, status = _kernels.lzw(data, start_bit, msb, max_bits, clear, eod, early, groups, out)
        if status != LZW_OUTPUT_FULL or size >= cap:
            break
        size = min(cap, 2 * size)
    del out[made:]
    read = (stop + 7) // 8
    if status == LZW_OUTPUT_FULL:
        return Drained(bytes(out), "limit", 1, 0, len(data) - read, read=read)
    if status == LZW_CORRUPT:
        return Drained(bytes(out), "corrupt", 0, read, read=read)
    return Drained(bytes(out), "ok", 1, len(data) if status == LZW_INPUT_ENDED else read, read=read)


# Every format by name: the decoders' names, plus "http-deflate" (zlib or raw).
FORMATS: dict[str, Callable[[Allowance | None], Codec]] = {
    "gzip": lambda a: ZlibCodec("gzip", 31, members=True, allowance=a),
    "zlib": lambda a: ZlibCodec("zlib", 15, allowance=a),
    "deflate": lambda a: ZlibCodec("deflate", -15, allowance=a),
    "http-deflate": lambda a: ZlibCodec("deflate", None, allowance=a),
    "brotli": lambda a: BrotliCodec(a, "brotli"),
    "br": lambda a: BrotliCodec(a, "br"),
    "zstd": lambda a: ZstdCodec(a),
    "bz2": lambda a: BufferedCodec("bz2", bz2.BZ2Decompressor, bz2_stream, a),
    "xz": lambda a: BufferedCodec("xz", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), xz_stream, a),
    "lzma": lambda a: BufferedCodec("lzma", lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), None, a),
    "deflate64": lambda a: Deflate64Codec(a),
    "lz4": lambda a: Lz4Codec(a),
    "lzw": lambda a: LzwCodec(a),
    "lzip": lambda a: LzipCodec(a),
    "snappy": lambda a: SnappyCodec(a),
    "snappy-raw": lambda a: SnappyRawCodec(a),
}
# HTTP Content-Encoding (RFC 9110 8.4.1) and grpc-encoding tokens we can undo.
CODING_TOKENS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "http-deflate", "br": "br", "zstd": "zstd",
                 "snappy": "snappy-raw", "compress": "lzw", "x-compress": "lzw"}


def make_codec(token: str, allowance: Allowance | None = None) -> Codec | None:
    """The codec of an HTTP content coding or a grpc-encoding token, None when we do not know it."""
    fmt = CODING_TOKENS.get(token.strip().lower())
    return FORMATS[fmt](allowance) if fmt else None


@dataclass(slots=True)
class Drained:
    """A whole buffer decompressed: ``status`` ok | truncated | corrupt | limit; ``end`` is the
    input offset after the last complete member; ``left`` the input bytes not decoded when a
    limit stopped it; ``hit`` that limit; ``read`` the input bytes surely decoded."""

    data: bytes
    status: str
    members: int = 0
    end: int = 0
    left: int = 0
    hit: str = ""
    read: int = 0
    extras: list[bytes] = field(default_factory=list)   # gzip members' long extra fields


def decompress(fmt: str, data: bytes | memoryview, cap: int, cap_why: str = "", chunk: int = CHUNK) -> Drained:
    """Decompress ``data`` (format ``fmt``) to at most ``cap`` bytes.  Bytes after the last
    stream that start no stream end it cleanly (``end`` says where)."""
    codec = FORMATS[fmt](Allowance(cap=cap, cap_why=cap_why))
    mv = memoryview(data)
    pieces: list[bytes] = []
    for at in range(0, len(mv), chunk):
        pieces += codec.feed_parts(mv[at : at + chunk])[0]
        if codec.failed:
            break
    else:
        pieces += codec.end_parts()[0]
    status = codec.status
    if status == "corrupt" and chunk > RETRY_CHUNK:
        return decompress(fmt, data, cap, cap_why, RETRY_CHUNK)
    if status == "trailing":
        status = "ok"
    elif status == "ok" and codec.note:
        status = "truncated"
    out = pieces[0] if len(pieces) == 1 else b"".join(pieces) if pieces else b""
    left = len(mv) - codec.consumed if status == "limit" else 0
    return Drained(out, status, codec.members, codec.ended_at, max(0, left), codec.hit, codec.consumed,
                   [bytes(e) for e in getattr(codec, "extras", ()) if e])


def lzma1_filter(props: bytes) -> dict[str, Any]:
    """The LZMA filter of a 5-byte properties field (lc, lp and pb in one byte, then the dictionary
    size), as 7z and zip store it; ValueError when it is none."""
    if len(props) < 5 or props[0] >= 9 * 5 * 5:
        raise ValueError("LZMA properties")
    return {"id": lzma.FILTER_LZMA1, "lc": props[0] % 9, "lp": props[0] // 9 % 5, "pb": props[0] // 45,
            "dict_size": int.from_bytes(props[1:5], "little")}


def raw_lzma(filters: list[dict[str, Any]], data: bytes | memoryview, size: int, cap: int) -> Drained:
    """A raw LZMA or LZMA2 stream, which has no header of its own (7z folders, zip's method 14), with
    ``filters`` (in compression order), to its ``size`` declared and at most ``cap`` bytes.  Fed in
    slices, so a data error keeps the output before it; a dictionary is given no more than the
    output can use, so a declared 4 GiB allocates nothing.  ``end`` is the input offset after the
    stream's end marker, when it has one."""
    filters = [dict(f, dict_size=max(4096, min(f["dict_size"], size, 1 << 30))) if "dict_size" in f else f
               for f in filters]
    try:
        d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
    except (lzma.LZMAError, ValueError, OverflowError):  # options liblzma refuses: no stream of ours
        return Drained(b"", "corrupt")
    return _drain(d, d.decompress, data, size, cap, (lzma.LZMAError, EOFError))


def ppmd_readable(variant: int, order: int, memory: int) -> bool:
    """Whether a PPMd stream of ``variant`` 7 (H: 7z) or 8 (I: zip) with these parameters is one the
    rig decodes: a model of PPMD_MIN_MEMORY to PPMD_MAX_MEMORY, an order its variant allows."""
    return 2 <= order <= (64 if variant == 7 else 16) and PPMD_MIN_MEMORY <= memory <= PPMD_MAX_MEMORY


def ppmd(variant: int, order: int, memory: int, data: bytes | memoryview, size: int, cap: int,
         restore: int = 0) -> Drained:
    """A PPMd stream (variant 7: 7z's coder 030401, to its folder's ``size``; 8: zip's method 98, to
    its end mark) decoded to at most ``cap`` bytes, fed in slices, with the ``restore`` method of a
    full model (variant 8).  Its parameters must be ``ppmd_readable``."""
    d = pyppmd.Ppmd7Decoder(order, memory) if variant == 7 else pyppmd.Ppmd8Decoder(order, memory, restore)
    return _drain(d, d.decode, data, size, cap, PPMD_ERRORS)


def _drain(d: Any, step: Callable[[bytes | memoryview, int], bytes], data: bytes | memoryview, size: int,
           cap: int, errors: tuple[type[Exception], ...]) -> Drained:
    """``data`` through a decompressor with lzma's interface (``step(input, max_length)``, ``eof``,
    ``needs_input``, ``unused_data``), in slices, to ``size`` bytes or its end and at most ``cap``."""
    want = min(size, cap)
    out: list[bytes] = []
    made = fed = 0
    status = "truncated"
    try:
        for at in range(0, len(data), CHUNK):
            if made >= want or d.eof:
                break
            piece = data[at: at + CHUNK]
            fed += len(piece)
            out.append(step(piece, want - made))
            made += len(out[-1])
        while made < want and not d.eof and not d.needs_input:
            out.append(step(b"", want - made))
            made += len(out[-1])
    except errors:
        status = "corrupt"
    end = fed - len(d.unused_data) if d.eof else 0
    if d.eof or made >= size:
        status = "ok"
    elif made >= want:
        status = "limit"
    return Drained(b"".join(out), status, int(d.eof), end, max(0, len(data) - fed) if status == "limit" else 0)


def keep(drained: Drained) -> bool:
    """Whether a drained stream is worth a view (corrupt noise is not)."""
    if not drained.data:
        return False
    return drained.status != "corrupt" or len(drained.data) >= MIN_CORRUPT_OUTPUT


def status_label(name: str, status: str) -> str:
    """Label of a stream output: "gzip", "gzip(truncated)", "gzip(corrupt)"."""
    return name if status in ("ok", "limit") else f"{name}({status})"
