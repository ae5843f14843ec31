"""Compressed streams that run on past the piece of a flow they start in, decoded across the pieces.

The raw parser hands a flow on in chunks of 64 KiB (an FTP data connection in pieces of as many),
each decoded on its own by the decoders: a gzip, zlib, zstd, xz, bzip2 or LZ4 stream that starts in
one piece and runs on is read only to that piece's end, and the pieces after it start in the middle
of the stream, where nothing opens.  Reads placed after 70 kB of incompressible bytes inside one
zlib stream, on a port no parser knows, replayed clean.  A ``StreamFollower`` per direction keeps
such a stream's decoder from piece to piece: where a piece ends inside a stream (the last stream
that starts in it and decodes), the decoder goes on with the next pieces, and what it makes of them
is handed on (``"<format> stream"``); what it made of the first piece is not (that piece's own
decoding gives it).  Bounded as every stream is (``codec.streaming``); a limit that stops it is
said.  A hole in the stream ends it.

Text encodings run on past a piece too: base64 or hex of a gzip of reads behind 150 kB of noise, sent
on a port no parser knows, replayed clean (each piece's run decoded on its own: the pieces after the
first start inside the compressed stream, and off the encoding's alignment).  Where a piece ends
inside a long base64 or hex run, the run is decoded on from piece to piece (``EncodedRun``): the
compressed stream its decoded bytes are inside is followed there, and what a piece's part of the
run decodes to is handed on (``"base64 stream"``) where the piece starts off the alignment.
"""

from __future__ import annotations

import binascii
import functools
import ipaddress
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from sandbox.decode import resync
from sandbox.decode.codec import (
    BZ2_MAGIC,
    FORMATS,
    GZIP_MAGIC,
    LZ4_MAGIC,
    XZ_MAGIC,
    ZSTD_MAGIC,
    Codec,
    bz2_stream,
    gzip_member,
    lz4_frame,
    streaming,
    xz_stream,
    zlib_header,
    zstd_frame,
)
from sandbox.decode.limits import LimitHit
from sandbox.index import _kernels
from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.zones import split_zone

# (format, the magic that opens it, the header check): formats whose magic chance seldom writes
STARTS: tuple[tuple[str, bytes, Callable[[bytes], bool]], ...] = (
    ("gzip", GZIP_MAGIC, gzip_member), ("zstd", ZSTD_MAGIC, zstd_frame), ("xz", XZ_MAGIC, xz_stream),
    ("bz2", BZ2_MAGIC, bz2_stream), ("lz4", LZ4_MAGIC, lz4_frame))
_NEEDLES = tuple(magic for _, magic, _ in STARTS)
# The bytes each header check can open on (its magic's first; zstd's and LZ4's checks take a skippable
# frame's 0x5?; zlib's first byte says method 8 and a window of 32 KiB at most), and by byte the checks
# tried there at a flow's start
_FIRST_BYTES = {**{fmt: {magic[0]} for fmt, magic, _ in STARTS}, "zstd": {ZSTD_MAGIC[0], *range(0x50, 0x60)},
                "lz4": {LZ4_MAGIC[0], *range(0x50, 0x60)}, "zlib": {b for b in range(256) if b & 0x0F == 8 and b >> 4 <= 7}}
_CHECKS_BY_FIRST: tuple[tuple[tuple[str, Callable[[bytes], bool]], ...], ...] = tuple(
    tuple((fmt, header_ok) for fmt, _, header_ok in (*STARTS, ("zlib", b"", zlib_header)) if first in _FIRST_BYTES[fmt])
    for first in range(256))
HEAD = 16                 # bytes a header check looks at
# A stream that makes the flow itself (a vendor's socket compressed end to end) starts within its first
# bytes, perhaps after a short header of its own: there any format is tried at each of these offsets
# (raw deflate, which has no header, at the first).
FLOW_START = 64
# Elsewhere one pass finds each format's first magic in a piece whose last bytes look compressed (text
# ends no stream): the stream a piece ends inside started there (zlib's two-byte headers and raw
# deflate, which chance writes every few KiB of random bytes, only at the flow's start).
TAIL = 256
MIN_TAIL_DISTINCT = 120   # distinct byte values of the last TAIL bytes: compressed or random data ~150-170, text < 100
MAX_STREAMS = 16          # streams followed at once by one Dissector
SHARED_STREAMS = "followed streams"   # key in the Dissector's ``shared``
# Where a deflate or bzip2 stream was cut (a hole in it, data that does not go on with it) or another
# flow to its site carried one lately, a piece that opens nothing is looked into for a block of one
# (``resync``): the parts of a gzip sent over parallel connections, what follows a lost packet.
RESYNCABLE = ("gzip", "zlib", "deflate", resync.LABEL, "bz2", resync.BZ2_LABEL)
RESYNC_SITES = "sites with deflate or bzip2 streams"   # key in the Dissector's ``shared``: the latest MAX_RESYNC_SITES
MAX_RESYNC_SITES = 256
# Capture seconds a site's mark lasts: less than the gap after which an archive's groups share no flow
# (``archive.merge.INDEPENDENT_GAP_S``), so groups that far apart share no mark either.
RESYNC_MARK_S = 300.0
RESYNC_SCAN = 128 << 10       # bytes of a piece looked into for a block start
RESYNC_BUDGET = 1 << 20       # bytes a follower looks into in all (random bytes at such a site cost this once)
RESYNC_TRIES = 4              # starts followed in one piece (another after each that stops inside it)
TRY_STEP = 16 << 10           # input a trial decoder takes at a time
MIN_OUTPUT = 64           # bytes a zlib or deflate stream must have made (a chance header in random bytes makes less)
# Messages shorter than this are also read joined (``MessageStream``): longer ones hold whole reads and
# runs the follower starts on, and are not read twice.
JOIN_BELOW = 1024
JOINED_PIECE = 64 * 1024  # bytes of short messages handed on joined at once
JOINED_WAIT = 1.0         # capture seconds a batch may wait for more (live latency: RAW_FLUSH_SECONDS)
MAX_KEYS = 64             # message streams by key per parser (topics, request paths), the oldest let go first
# Bytes all of a Dissector's batches may hold (flows by the thousand, each with keys of its own); past
# it a batch goes out as its message comes
MAX_JOINED_HELD = 16 << 20
JOINED_HELD = "joined bytes held"   # key in the Dissector's ``shared`` of that count
# Bytes of the batches before that a batch of one message is joined with (a connection a message: what
# spans two messages is whole in one, at a fraction of RAW_OVERLAP's cost per message)
LONE_TAIL = 256
# Bytes a chunk repeats of the one before (raw chunks, joined batches): longer than any identifier or
# fingerprint window we match (k-mers 31, winnowing windows of a few hundred bytes).
RAW_OVERLAP = 1024


# Base64 (standard or url-safe, line breaks inside) and hex runs a piece ends inside: at least this
# many characters of the run in that piece (words and identifiers are shorter).
MIN_ENCODED_TAIL = 64
_BASE64_RUN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_\r\n"
_HEX_RUN = b"0123456789abcdefABCDEF\r\n"
_LINES = b"\r\n"
_URLSAFE = bytes.maketrans(b"-_", b"+/")
HEX_PREFIX = 2            # characters before a hex run that make it no base64 ("\x", "0x")


def _first_line_apart(text: bytes) -> bytes:
    """A run without its first line where that is no line of it: an encoding's lines are of one
    width, and a word before a line break ("PUT 1\\n<base64>") is not the run's."""
    first, newline, rest = text.partition(b"\n")
    if newline and len(first.rstrip(b"\r")) != len(rest.partition(b"\n")[0].rstrip(b"\r")):
        return rest
    return text


class Followed(NamedTuple):
    """What a followed stream made of a piece (on the labels after the flow's), and the limit that
    stopped it, if one did."""

    label: tuple[str, ...]
    data: bytes
    limit: LimitHit | None


class EncodedRun:
    """A base64 or hex run a piece ended inside, decoded on across the pieces after it; ``inner``
    follows the compressed stream its decoded bytes are inside."""

    def __init__(self, encoding: str, shared: dict[str, Any]) -> None:
        self.encoding = encoding
        self.alphabet = _HEX_RUN if encoding == "hex" else _BASE64_RUN
        self.carry = b""        # characters of an unfinished group (base64's 4, hex's 2)
        self.made = 0           # bytes decoded so far
        self.inner = StreamFollower(shared)

    def decode(self, text: bytes, last: bool = False) -> bytes:
        """The bytes ``text`` (the run's next characters) finishes; what it leaves unfinished kept,
        or, the ``last`` characters of the run, read as base64's padded last group."""
        text = self.carry + text.translate(None, _LINES)
        group = 2 if self.encoding == "hex" else 4
        whole = len(text) - len(text) % group
        text, self.carry = text[:whole], text[whole:]
        if last and self.encoding == "base64" and len(self.carry) > 1:
            text, self.carry = text + self.carry + b"=" * (group - len(self.carry)), b""
        try:
            out = binascii.unhexlify(text) if self.encoding == "hex" else binascii.a2b_base64(text.translate(_URLSAFE))
        except binascii.Error:
            out = b""
        self.made += len(out)
        return out

    @staticmethod
    def tail_of(data: bytes, shared: dict[str, Any]) -> tuple[EncodedRun, bytes] | None:
        """The run ``data`` ends inside, MIN_ENCODED_TAIL characters long or more (hex, or base64 of
        upper and lower case letters and digits), with its characters in ``data``."""
        text = _first_line_apart(data[len(data.rstrip(_BASE64_RUN)):])
        hex_text = _first_line_apart(text[len(text.rstrip(_HEX_RUN)):])
        if len(hex_text.translate(None, _LINES)) >= MIN_ENCODED_TAIL and len(text) - len(hex_text) <= HEX_PREFIX \
                and not (hex_text.translate(None, b"0123456789abcdef\r\n")
                         and hex_text.translate(None, b"0123456789ABCDEF\r\n")):
            return EncodedRun("hex", shared), hex_text
        letters = text.translate(None, _LINES)
        if len(letters) >= MIN_ENCODED_TAIL and all(letters.translate(None, chars) != letters for chars in (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz", b"0123456789")):
            return EncodedRun("base64", shared), text
        return None


class StreamFollower:
    """The compressed stream one direction of a flow is inside at the end of its last piece.

    ``shared`` (the Dissector's): the streams followed at once are MAX_STREAMS at most, the one
    followed longest ago let go first (a decoder holds a window of up to 32 MiB: a flood of flows
    must not make the rig hold thousands); the chunks of a stream let go are read as before."""

    def __init__(self, shared: dict[str, Any]) -> None:
        self.shared = shared
        self.streams: OrderedDict[int, StreamFollower] = shared.setdefault(SHARED_STREAMS, OrderedDict())
        self.codec: Codec | None = None
        self.fmt = ""
        self.first = b""        # what the stream made of its first piece, when no decoder opens it there
        self.crowded = False    # let go for another stream's room: what comes next of it is not read
        self.run: EncodedRun | None = None   # the base64 or hex run the last piece ended inside
        self.where = ""         # the site of the flow (``follow``)
        self.now = 0.0          # the capture time of its last piece (``follow``)
        self.cut = False        # a deflate stream it followed was cut: what comes next is looked into
        self.scan_left = RESYNC_BUDGET

    def piece(self, new: bytes, at: int) -> Followed | None:
        """Take a piece's new bytes (not the overlap it repeats), ``at`` their offset in the flow's
        direction: what the stream followed from the pieces before makes of them, or None; and look
        for a stream that runs on past this piece."""
        if self.crowded:        # the rest of its stream goes unread: said as the limit it is
            self.crowded = False
            return Followed((f"{self.fmt} stream",), b"", LimitHit(f"{MAX_STREAMS} streams followed at once", self.fmt,
                                                                   (f"{self.fmt} stream",), len(new)))
        if self.codec is None:
            self._open(new, at)
            first, self.first = self.first, b""
            return Followed((f"{self.fmt} stream",), first, None) if first else None
        codec, fmt = self.codec, self.fmt
        decoded, rest = codec.feed_split(new)
        limit = None
        if codec.status != "ok":
            self._let_go()
            if codec.status == "limit":
                limit = LimitHit(codec.hit, fmt, (f"{fmt} stream",), len(rest))
            self.cut = self.cut or (codec.status == "corrupt" and fmt in RESYNCABLE)
            if rest:        # another stream may start after it (what it makes of ``rest``: ``first``)
                self._open(rest, at + len(new) - len(rest))
        return Followed((f"{fmt} stream",), decoded, limit) if decoded or limit else None

    def encoded(self, new: bytes) -> list[Followed]:
        """Take a piece's new bytes: what the base64 or hex run the pieces before ended inside makes
        of its part of them (handed on where the piece starts off the encoding's alignment: a piece
        that starts on it decodes the same bytes itself; overlaps are whole groups), and what the
        compressed stream inside the run's bytes makes; and look for a run this piece ends inside."""
        out: list[Followed] = []
        run = self.run
        if run is not None:
            text = new[:len(new) - len(new.lstrip(run.alphabet))]
            aligned, at = not run.carry, run.made
            ends = len(text) < len(new)
            decoded = run.decode(text, ends)
            stream = (f"{run.encoding} stream",)
            if decoded and not aligned:
                out.append(Followed(stream, decoded, None))
            inner = run.inner.piece(decoded, at) if decoded else None
            if inner is not None:
                out.append(Followed(stream + inner.label, inner.data, inner.limit))
            if not ends:
                return out
            run.inner.gap()
            self.run = None
        tail = EncodedRun.tail_of(new, self.shared)
        if tail is not None:
            self.run, text = tail
            inner = self.run.inner.piece(self.run.decode(text), 0)   # a stream opening in the run: followed
            if inner is not None:
                out.append(Followed((f"{self.run.encoding} stream", *inner.label), inner.data, inner.limit))
        return out

    def follow(self, ctx: FlowContext, new: bytes, at: int, direction: str, label: tuple[str, ...],
               t_first: float, t_last: float, meta: dict[str, Any] | None = None) -> list[Payload | Observation]:
        """``piece`` as a parser's items: what the stream makes, on ``label`` and the stream's own, and
        the limit that stopped it.  Outbound only: nothing examines what comes in."""
        if direction != "out":
            return []
        self.where = site(ctx.destination or ctx.info.dst) if ctx.info is not None else ctx.destination
        self.now = t_last
        followed = [f for f in (self.piece(new, at), self._first(), *self.encoded(new)) if f is not None]
        out: list[Payload | Observation] = []
        for f in followed:
            if f.data:
                out.append(ctx.payload(f.data, (*label, *f.label), direction, t_first, t_last, meta=meta))
            if f.limit is not None:
                out.append(ctx.limit_observation(f.limit, t_first, t_last, label=label + f.label[:-1]))
        return out

    def _first(self) -> Followed | None:
        """What a stream that began after another stopped in the last piece made of it."""
        first, self.first = self.first, b""
        return Followed((f"{self.fmt} stream",), first, None) if first else None

    @property
    def inside(self) -> str:
        """What the last piece ended inside: "compressed", "base64" or "hex" ("" when nothing)."""
        return "compressed" if self.codec is not None else self.run.encoding if self.run is not None else ""

    def gap(self) -> None:
        """Bytes of the stream were lost: a decoder cannot go on past them (a deflate stream's next block
        is looked for in what comes)."""
        self.cut = self.cut or (self.codec is not None and self.fmt in RESYNCABLE)
        self._let_go()
        self.crowded = False
        if self.run is not None:
            self.run.inner.gap()
            self.run = None

    def _let_go(self) -> None:
        self.codec = None
        self.streams.pop(id(self), None)

    def _open(self, data: bytes, at: int) -> None:
        """Follow a stream that starts in ``data``, or one whose block ``data`` holds (``_resync``)."""
        self._start(data, at)
        if self.codec is None and self.scan_left > 0 and len(data) >= resync.MIN_OUTPUT and \
                (self.cut or self.now - self.shared.get(RESYNC_SITES, {}).get(self.where, -RESYNC_MARK_S - 1)
                 <= RESYNC_MARK_S) and \
                len(set(data[-TAIL:])) >= MIN_TAIL_DISTINCT:
            self._resync(data)

    def _resync(self, data: bytes) -> None:
        """A deflate stream from the first block ``data`` holds whose start it does not (the window before
        it unknown), or a bzip2 stream from its first block: what it makes is handed on as this piece's
        (``first``); followed on when still open at the piece's end, else another block is looked for
        after where it stopped."""
        made, at = [], 0
        for _ in range(RESYNC_TRIES):
            scan = min(RESYNC_SCAN, self.scan_left, len(data) - at)
            if scan < resync.MIN_OUTPUT:
                break
            self.scan_left -= scan
            found = resync.find(data[at:], scan) or resync.find_bz2(data[at:], scan)
            if found is None:
                break
            _, codec, out = found
            made.append(out)
            fmt = codec.name
            if codec.status == "ok":
                self._follow(codec, fmt)
                break
            at += max(codec.consumed, 1)
        if made:
            self.fmt, self.first = fmt, b"".join(made)

    def _mark(self) -> None:
        """The follower's site carried a deflate or bzip2 stream."""
        if self.where:
            sites: OrderedDict[str, float] = self.shared.setdefault(RESYNC_SITES, OrderedDict())
            sites[self.where] = self.now
            sites.move_to_end(self.where)
            if len(sites) > MAX_RESYNC_SITES:
                sites.popitem(last=False)

    def _follow(self, codec: Codec, fmt: str) -> None:
        """Follow ``codec`` from now on: MAX_STREAMS at once, the one followed longest ago let go."""
        self.codec, self.fmt = codec, fmt
        self.streams[id(self)] = self
        if len(self.streams) > MAX_STREAMS:
            crowded = self.streams.popitem(last=False)[1]
            crowded.codec, crowded.crowded = None, True

    def _start(self, data: bytes, at: int) -> None:
        """Follow a stream that starts in ``data``, decodes, and is still open at its end."""
        if at == 0:
            if _deflate_start(data[:HEAD]) and self._try(data, 0, "deflate"):
                return
            for offset, first in enumerate(data[:FLOW_START]):
                for fmt, header_ok in _CHECKS_BY_FIRST[first]:
                    if header_ok(data[offset: offset + HEAD]) and self._try(data, offset, fmt):
                        return
        if len(set(data[-TAIL:])) < MIN_TAIL_DISTINCT:     # at the flow's start too: past a header of its own
            return
        out = np.empty(len(_NEEDLES), dtype=np.int64)
        _kernels.first_of(data, _NEEDLES, 0, out)
        for offset, (fmt, _, header_ok) in sorted(zip(out.tolist(), STARTS, strict=True), key=lambda x: x[0]):
            if offset >= 0 and header_ok(data[offset: offset + HEAD]) and self._try(data, offset, fmt):
                return

    def _try(self, data: bytes, offset: int, fmt: str) -> bool:
        """Decode ``data`` from ``offset`` as ``fmt``: True when it decodes to the end, still open
        (followed from now on)."""
        codec = FORMATS[fmt](streaming())
        view, parts, rest = memoryview(data)[offset:], [], b""
        for step in range(0, len(view), TRY_STEP):      # a data error loses only the last step's output
            out, rest = codec.feed_split(view[step:step + TRY_STEP])
            parts.append(out)
            if codec.status != "ok":
                break
        first = b"".join(parts)
        weak = fmt in ("zlib", "deflate")       # headers chance writes: they must have made something
        if fmt in RESYNCABLE and (codec.produced >= MIN_OUTPUT or fmt == "bz2" and codec.status == "ok"):
            self._mark()        # (bzip2 makes nothing before a whole block: 100 to 900 kB)
        if codec.status == "ok" and not rest and codec.ended_at < codec.fed and (not weak or codec.produced >= MIN_OUTPUT):
            self._follow(codec, fmt)
            # the decoders open raw deflate at a view's start only after a block of Huffman codes:
            # what a stream of stored blocks made of this piece is handed on here
            self.first = first if fmt == "deflate" and (data[0] >> 1) & 3 == 0 else b""
            return True
        return False


class Held:
    """Bytes held by the Dissector's batches or messages in progress: shared state only while non-zero
    (an archive's groups are independent when nothing is held at their end)."""

    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0

    def __bool__(self) -> bool:
        return self.bytes != 0


class Joined:
    """Short messages of one stream held in a batch, handed on joined (``"messages joined"``, with the
    last RAW_OVERLAP bytes of the batch before) and followed as one piece.  Shared by the connections
    to one destination where a client opens one a message (``MessageStreams(across=True)``): the batch
    is handed on in the context of the flow whose message ends it."""

    def __init__(self, ctx: FlowContext, mixed: bool = False, follows: bool = True) -> None:
        """``mixed``: a batch of every site's messages, handed on only when it holds two sites' (one
        site's are its own batch's); ``follows``: its batches' compressed streams followed (not where
        the messages' owner follows them with the long ones: ``parts.Upload``)."""
        self.ctx = ctx
        self.follower = StreamFollower(ctx.shared) if follows else None
        self.held: Held = ctx.shared.setdefault(JOINED_HELD, Held())   # bytes in every batch of the Dissector
        self.sites: set[str] | None = set() if mixed else None          # the sites of the batch's messages
        self.last_value = b""   # the last message: a head value the same as it says nothing new (``HeadValues``)
        self.affixes: tuple[bytes, bytes] | None = None   # the start and end every value shared (``HeadValues``)
        self.values = 0         # values taken (``HeadValues``)
        self.at = 0             # bytes of the batches before
        self.batch = bytearray()
        self.count = 0          # messages in the batch
        self.label: tuple[str, ...] = ()          # the batch's first message's labels, meta and time
        self.meta: dict[str, Any] | None = None
        self.t_first = self.t_last = 0.0
        self.tail = b""         # the last bytes of the batch before

    def add(self, ctx: FlowContext, data: bytes, label: tuple[str, ...], t_first: float, t_last: float,
            meta: dict[str, Any] | None) -> list[Payload | Observation]:
        out: list[Payload | Observation] = []
        if self.batch and t_last - self.t_first > JOINED_WAIT:
            out += self.flush()
        self.ctx = ctx
        if not self.batch:
            self.label, self.meta, self.t_first = label, meta, t_first
        if self.sites is not None and len(self.sites) < 2:
            self.sites.add(site(ctx.destination))
        self.batch += data
        self.held.bytes += len(data)
        self.count += 1
        self.t_last = t_last
        if len(self.batch) >= JOINED_PIECE or self.held.bytes > MAX_JOINED_HELD:
            out += self.flush()
        return out

    def flush(self) -> list[Payload | Observation]:
        """The batch, joined (when it holds more than one message, or follows a batch before) and followed."""
        if not self.batch:
            return []
        data = bytes(self.batch)
        self.batch.clear()
        self.held.bytes -= len(data)
        if self.sites is not None:
            one_site = len(self.sites) < 2
            self.sites.clear()
            if one_site:        # its site's batch holds these messages: read there
                self.count, self.tail = 0, b""
                if self.follower is not None:
                    self.follower.gap()
                return []
        out: list[Payload | Observation] = []
        tail = self.tail if self.count > 1 else self.tail[-LONE_TAIL:]
        joined = tail + data
        if self.count > 1 or tail:          # a lone message was read as itself
            out.append(self.ctx.payload(joined, (*self.label, "messages joined"), "out", self.t_first, self.t_last,
                                        meta={"messages": self.count}, repeated=len(tail)))
        self.tail = (self.tail + data)[-RAW_OVERLAP:]
        self.count = 0
        if self.follower is not None:
            out += self.follower.follow(self.ctx, data, self.at, "out", self.label, self.t_first, self.t_last,
                                        self.meta)
        self.at += len(data)
        return out

    def end(self) -> list[Payload | Observation]:
        """The messages ended (a hole, the flow's end): the batch goes out, the stream is let go."""
        out = self.flush()
        if self.follower is not None:
            self.follower.gap()
        self.tail = b""
        return out


class MessageStream:
    """A direction's messages read one after another as one stream: the compressed stream a message
    ends inside is followed into the messages after it (a file sent a WebSocket message, an HTTP
    request or a gRPC message at a time: a gzip of reads behind 150 kB of noise in pieces of 16 or 32
    kB replayed clean, each piece decoded on its own).

    Short messages are also read joined: reads sent 24 bytes a WebSocket message or an HTTP request
    (shorter than a k-mer), or base64 of a gzip of them 48 bytes a message (shorter than a run the
    follower starts on), replayed clean.  Messages shorter than JOIN_BELOW go to a batch (``Joined``)
    handed on when it fills JOINED_PIECE, when it waited JOINED_WAIT, or when the flow goes quiet
    (``idle``).  Long and short messages are followed apart: a status report between an upload's
    chunks (a progress message between WebSocket messages of 16 kB) broke the chunks' stream."""

    def __init__(self, ctx: FlowContext, joined: Joined | None = None, everywhere: Joined | None = None) -> None:
        self.ctx = ctx
        self.follower = StreamFollower(ctx.shared)   # long messages' stream
        self.joined = joined or Joined(ctx)          # short messages' (shared: ``MessageStreams(across=True)``)
        self.everywhere = everywhere                 # ... and every site's (ibid.)
        self.shared = joined is not None
        self.at = 0             # bytes of the long messages before

    def follow(self, data: bytes, direction: str, label: tuple[str, ...], t_first: float,
               t_last: float, meta: dict[str, Any] | None = None) -> list[Payload | Observation]:
        """The next message's bytes: what the followed stream makes of them, and of the batch they end
        (outbound only)."""
        if direction != "out" or not data:
            return []
        if len(data) < JOIN_BELOW:
            out = self.joined.add(self.ctx, data, label, t_first, t_last, meta)
            if self.everywhere is not None:
                out += self.everywhere.add(self.ctx, data, label, t_first, t_last, meta)
            return out
        out = self.follower.follow(self.ctx, data, self.at, "out", label, t_first, t_last, meta)
        self.at += len(data)
        return out

    def idle(self) -> list[Payload | Observation]:
        """The batch of short messages, joined and followed (a batch shared with other connections goes
        out when it waited JOINED_WAIT: ``flush_joined``)."""
        return [] if self.shared else self.joined.flush()

    def close(self) -> list[Payload | Observation]:
        """The messages ended (the flow closed, or a hole): the batch goes out, this flow's streams are
        let go (a batch shared with other connections goes on)."""
        self.follower.gap()
        return [] if self.shared else self.joined.end()


JOINED_ACROSS = "joined across connections"   # key in the Dissector's ``shared`` of the batches by destination
MAX_JOINED_ACROSS = 256                       # such batches at once, the one used longest ago ended first


@functools.lru_cache(maxsize=4096)
def site(destination: str) -> str:
    """The registered domain of a destination's name (``a.lims.example`` and ``b.lims.example`` are one
    site: pieces sent to a host of it each must be read joined), or the address as it is."""
    try:
        ipaddress.ip_address(destination.strip("[]"))
        return destination
    except ValueError:
        labels = destination.encode("utf-8", "replace").split(b".")
        return b".".join(split_zone(labels)[1]).decode("utf-8", "replace").lower()


def flush_joined(shared: dict[str, Any], before: float | None,
                 expire: float | None = float("-inf")) -> list[Payload | Observation]:
    """The batches shared across connections whose last message came at ``before`` or earlier (all of
    them with None: the capture's end) handed on, and those quiet since ``expire`` or earlier (all with
    None) let go; the Dissector calls it as it sweeps its flows (so an archive's groups far apart in
    time share none)."""
    table = shared.get(JOINED_ACROSS)
    if not table:
        return []
    out = [item for joined in table.values() if joined.batch and (before is None or joined.t_last <= before)
           for item in joined.flush()]
    for where in [w for w, joined in table.items() if expire is None or joined.t_last <= expire]:
        out += table.pop(where).end()
    return out


class MessageStreams:
    """A parser's message streams by key (an HTTP request's method and path, its numbers aside; a
    WebSocket message's opcode; an MQTT topic): messages of other keys between a stream's pieces (a
    status report between an upload's chunks) do not break it.  MAX_KEYS keys at once, the one used
    longest ago let go first.

    ``across``: the short messages of a key are joined with those of the other connections to the same
    site (a beacon that opens a connection a request: reads 24 bytes a request, a connection each,
    replayed clean; each to another host of one domain), in one batch that outlives them (handed on by
    ``flush_joined``)."""

    def __init__(self, ctx: FlowContext, across: bool = False) -> None:
        self.ctx = ctx
        self.across = across
        self.streams: OrderedDict[str, MessageStream] = OrderedDict()

    def follow(self, key: str, data: bytes, direction: str, label: tuple[str, ...], t_first: float,
               t_last: float, meta: dict[str, Any] | None = None) -> list[Payload | Observation]:
        """``MessageStream.follow`` on ``key``'s stream (outbound only)."""
        if direction != "out" or not data:
            return []
        out: list[Payload | Observation] = []
        stream = self.stream(key, out)
        return out + stream.follow(data, direction, label, t_first, t_last, meta)

    def stream(self, key: str, out: list[Payload | Observation]) -> MessageStream:
        """``key``'s stream, made when new (what a stream let go for its room hands on goes to ``out``)."""
        stream = self.streams.pop(key, None)
        if stream is None:
            stream = MessageStream(self.ctx, self._joined(key, out), self._joined(key, out, everywhere=True)) \
                if self.across else MessageStream(self.ctx)
            if len(self.streams) >= MAX_KEYS:
                out += self.streams.popitem(last=False)[1].close()
        self.streams[key] = stream
        return stream

    def _joined(self, key: str, out: list[Payload | Observation], everywhere: bool = False) -> Joined:
        """The batch of ``key``'s short messages to this flow's destination, shared by its connections
        (``everywhere``: to every destination, handed on where it holds two sites' messages: a beacon
        that sends each piece to another of three unrelated domains, base64url of a gzip of reads 48
        characters a request, replayed clean)."""
        table: OrderedDict[tuple[str | None, str], Joined] = self.ctx.shared.setdefault(JOINED_ACROSS,
                                                                                        OrderedDict())
        where = (None if everywhere else site(self.ctx.destination), key)
        joined = table.pop(where, None)
        if joined is None:
            joined = Joined(self.ctx, mixed=everywhere)
            if len(table) >= MAX_JOINED_ACROSS:
                out += table.popitem(last=False)[1].end()
        table[where] = joined
        return joined

    def idle(self) -> list[Payload | Observation]:
        return [item for stream in self.streams.values() for item in stream.idle()]

    def close(self, key: str | None = None) -> list[Payload | Observation]:
        """Every stream (or ``key``'s) ended: a hole, the flow's end."""
        if key is not None:
            stream = self.streams.pop(key, None)
            return stream.close() if stream is not None else []
        out = [item for stream in self.streams.values() for item in stream.close()]
        self.streams.clear()
        return out


_NUMBERS = re.compile(r"[0-9]+")


def message_key(label: str) -> str:
    """The key of a request's message stream: its label (method and path) with numbers made one
    (``/upload/run42/chunk/7`` and ``/chunk/8`` are one upload)."""
    return _NUMBERS.sub("#", label)


def _deflate_start(head: bytes) -> bool:
    """Raw deflate opening with a block of its own Huffman codes (what compressors write first), or
    with a stored block whose length and its complement agree (what they write for incompressible
    bytes)."""
    if not head:
        return False
    kind = (head[0] >> 1) & 3
    return kind == 2 or (kind == 0 and len(head) >= 5 and int.from_bytes(head[1:3], "little")
                         == int.from_bytes(head[3:5], "little") ^ 0xFFFF)
