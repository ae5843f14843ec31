"""A file uploaded in numbered parts, read in the parts' order whatever the order they come in.

A request's body is followed into the next request of its path on its connection
(``follow.MessageStreams``): a gzip of reads behind 150 kB of noise, cut in parts of 1 kB (smaller
than a deflate block, so no part holds a block of its own to read from), each part a POST of its
number (``/upload/part/7``, ``?partNumber=7``, a ``Content-Range``, an ``X-Chunk-Index``), replayed
clean when each part had a connection of its own, when the parts went round-robin over three
connections, or when they were sent shuffled on one.  Each part came after another part than the one
before it in the file.

``PartStreams`` (one per HTTP direction) hands each body piece with a part number to the
``Upload`` of its site and path (shared by the Dissector's connections): an upload feeds its pieces
to a stream of its own in the order of their numbers (the next number, or the offset the
part before ended at), holding those that come early (PARTS_WAIT capture seconds and PARTS_HELD
bytes at most; past them the earliest held goes on after a gap, where a deflate stream is looked
for from its next block).  While every piece came on one connection right after the piece before
it, the connection's own stream read them in this order already: the upload keeps the last
PARTS_HISTORY bytes of them and reads them again (its output dropped) only when a piece first
comes out of line, so an ordinary upload is decoded and matched once.  A piece held that neither
follows nor is followed by another (a timestamp, an id in a path) is let go unread.

Numbered parts sent to two sites by turns (each site's parts start inside the stream): a key's parts
go to its upload to every site too (``EVERY_SITE``), which reads them once they came to two sites.

Bodies of 1 KiB or more that name no part are one upload of their site and path in the order they
come (``ARRIVAL``): the same gzip in parts of 1 or 2 kB to one path, a connection a part or round-robin
over three connections, in order, replayed clean (shorter bodies are joined across connections as
they come already: ``follow.MessageStreams``).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import JOIN_BELOW, MAX_KEYS, Joined, StreamFollower, site

UPLOADS = "uploads in parts"     # key in the Dissector's ``shared`` of the uploads by site and path
MAX_UPLOADS = 16                 # uploads at once, the one used longest ago let go first (32 MiB held at most)
PARTS_WAIT = 30.0                # capture seconds a piece that came early waits for those before it
PARTS_HELD = 1 << 20             # bytes of early pieces an upload holds
MAX_EARLY = 4096                 # early pieces an upload holds
PARTS_HISTORY = 1 << 20          # bytes of the pieces read in line an upload keeps (read again if one comes out of line)
MAX_NUMBER = 1 << 48             # larger numbers are no part's (an id, a hash's digits)
MAX_TARGET = 2048                # characters of a target looked at (and cached) for its part
NUMBERED = 2                     # a target's last numbers each tried as its part's, every other one folded
MAX_SEEN = 4096                  # pieces an upload remembers having read (a part sent again is read once)
LABEL = "parts in order"
# The key of the upload of a path's long bodies that name no part, read in the order they come across
# the site's connections (a connection a part, or parts round-robin over a few: each connection's own
# stream held a part of every few, and parts smaller than a deflate block replayed clean)
ARRIVAL = "in the order they come: "
EVERY_SITE = None                # the site of the uploads of a key's parts to every site (no site's name)
# Query parameters that say a part's number or offset (their names lower-cased, letters only)
_PART_WORDS = ("part", "chunk", "seq", "index", "idx", "block", "offset", "pos", "piece", "segment", "frag",
               "num", "page", "start")
_DIGITS = re.compile(r"[0-9]+")
_LAST_OF_PART = frozenset("0123456789* \t")     # what a header that names a part ends with
_RANGE = re.compile(r"bytes\s+([0-9]{1,15})-[0-9]{1,15}/(?:[0-9]{1,15}|\*)$", re.IGNORECASE)
# Headers of a part's name that say no part (a body's length, a connection's keep-alive)
_NOT_PARTS = frozenset(("content-length", "keep-alive", "max-forwards", "upload-length", "upgrade-insecure-requests"))


class Part(NamedTuple):
    """A request's upload (its method, path and which number says the part) and its part's number."""

    key: str
    number: int


def part_header(headers: Iterable[tuple[str, str]]) -> str:
    """A request header that says which part its body is, as ``name=number`` ("": none): a range's first
    byte (``Content-Range: bytes 1024-2047/8192``), tus's ``Upload-Offset``, or a header of a part's
    name (``X-Chunk-Index: 3``) whose value is digits."""
    for name, value in headers:
        if value[-1:] not in _LAST_OF_PART:     # (most headers end in no digit: looked at no further)
            continue
        name, value = name.lower(), value.strip()
        if name == "content-range":
            found = _RANGE.match(value)
            if found:
                return f"{name}={found[1]}"
        elif value.isascii() and value.isdigit() and name not in _NOT_PARTS and \
                any(word in "".join(c for c in name if "a" <= c <= "z") for word in _PART_WORDS):
            return f"{name}={value}"
    return ""


def parts_of(meta: dict[str, Any]) -> tuple[Part, ...]:
    """The parts a request may name: a header that says it (``part_header``, kept in ``meta["part"]``);
    a query parameter of a part's name (``partNumber=3``, ``offset=1024``) with digits for its value;
    else the path's last number (``/part/3``, ``/3.bin``), the key keeping the target's other numbers
    (``/upload/42/part/#``: uploads to two ids apart), and each of the target's last NUMBERED numbers
    with every other one folded too (``/part/#/r#``: a nonce after the part's number)."""
    method, path, header = meta.get("method"), meta.get("path"), meta.get("part")
    if not isinstance(method, str) or not isinstance(path, str):
        return ()
    if isinstance(header, str) and header:
        name, _, number = header.partition("=")
        part = _part(f"{method[:MAX_TARGET]} {path.partition('?')[0][:MAX_TARGET]} {name}", number)
        return (part,) if part is not None else ()
    return _parts_of(method[:MAX_TARGET], path[:MAX_TARGET])


@functools.lru_cache(maxsize=1024)
def _parts_of(method: str, path: str) -> tuple[Part, ...]:
    """``parts_of`` of a request's method and target (each piece of a body asks again)."""
    if not _DIGITS.search(path):
        return ()
    path_only, _, query = path.partition("?")
    for name, value in parse_qsl(query, keep_blank_values=True):
        letters = "".join(c for c in name.lower() if "a" <= c <= "z")
        if value.isascii() and value.isdigit() and (letters in ("n", "i", "p") or any(w in letters for w in _PART_WORDS)):
            part = _part(f"{method} {path_only}?{name}=#", value)
            return (part,) if part is not None else ()
    found: list[Part | None] = []
    numbers = list(_DIGITS.finditer(path_only))
    if numbers:
        last = numbers[-1]
        found.append(_part(f"{method} {path_only[:last.start()]}#{path_only[last.end():]}", last.group()))
    every = list(_DIGITS.finditer(path))
    if len(every) > 1:
        folded = f"{method} {_DIGITS.sub('#', path)}"
        found += [_part(f"{folded} @{n}", every[-n].group()) for n in range(1, min(NUMBERED, len(every)) + 1)]
    return tuple(part for part in found if part is not None)


def _part(key: str, digits: str) -> Part | None:
    number = int(digits[:16])
    return Part(key, number) if number < MAX_NUMBER else None


class _Piece(NamedTuple):
    number: int
    offset: int          # in the part's body
    data: bytes
    ctx: FlowContext
    label: tuple[str, ...]
    t_first: float
    t_last: float
    meta: dict[str, Any]
    token: int
    before: int | None   # the token of what its connection's stream of its path read before it (``PartStreams``)


class Upload:
    """The pieces of one upload's parts, fed in order to a stream of its own (``follow``: short pieces
    are also read joined)."""

    def __init__(self, ctx: FlowContext, across_sites: bool = False) -> None:
        """``across_sites``: the upload of a key's parts to every site, read only once they came to two
        (before, each site's own upload read them)."""
        self.across_sites = across_sites
        self.sites: set[str] = set()
        self.follower = StreamFollower(ctx.shared)
        self.joined = Joined(ctx, follows=False)
        self.at = 0                                       # bytes read by the follower
        self.early: dict[tuple[int, int], _Piece] = {}   # pieces held for those before them, by (number, offset)
        self.early_bytes = 0
        self.history: deque[_Piece] = deque()             # the pieces fed last, PARTS_HISTORY bytes of them
        self.history_bytes = 0
        self.seen: OrderedDict[tuple[int, int], None] = OrderedDict()   # pieces read, the latest MAX_SEEN
        self.last: _Piece | None = None                   # the piece fed last
        self.part_size = 0                                # bytes of its part fed so far, that piece's included
        self.lined = True                                 # each piece fed came on the connection of the one before, after it
        self.arrived = 0                                  # pieces that came naming no number (the next one's)
        self.t_last = 0.0

    def add(self, piece: _Piece) -> list[Payload | Observation]:
        """A piece of a part: fed when it is the next, else held."""
        self.t_last = piece.t_last
        out: list[Payload | Observation] = []
        if (piece.number, piece.offset) in self.early or (piece.number, piece.offset) in self.seen:
            return out          # a part sent again
        if piece.number == piece.offset == 0 and self.history and self.history[0][:2] == (1, 0) and \
                (not self.across_sites or len(self.sites | {site(piece.ctx.destination)}) > 1):
            return self._restart(piece) + self._drain()
        if self._next(piece) or self.last is None and piece.offset == 0 and piece.number <= 1:
            # its connection's stream read it right after the piece before (short pieces are read joined
            # with other connections' in the order they come: never in line)
            in_line = piece.before == (self.last.token if self.last is not None else None) \
                and len(piece.data) >= JOIN_BELOW
            out += self._feed(piece, in_line, gap=False)
            out += self._drain()
        else:
            self.early[(piece.number, piece.offset)] = piece
            self.early_bytes += len(piece.data)
            if self.early_bytes > PARTS_HELD or len(self.early) > MAX_EARLY:
                out += self.flush(None)
        return out

    def flush(self, before: float | None) -> list[Payload | Observation]:
        """Early pieces that came at ``before`` or earlier (all with None) taken, the lowest number
        first: fed (after a gap where it is not the next) when a piece held follows it, or it follows
        the piece fed last; else dropped unread (its own connection read it as it did every message:
        a timestamp or an id in a path costs nothing more)."""
        out: list[Payload | Observation] = []
        for key in sorted(self.early):
            piece = self.early.get(key)
            if piece is None or before is not None and piece.t_last > before:
                continue        # fed by a drain, or not waited long enough
            self._take(key)
            if self._next(piece) or self._followed(piece):
                out += self._feed(piece, False, gap=not self._next(piece))
                out += self._drain()
        return out

    def end(self) -> list[Payload | Observation]:
        """The upload let go: what it holds is fed, its stream ended."""
        out = self.flush(None)
        return out + (self._gap() if not self.lined else [])

    def _drain(self) -> list[Payload | Observation]:
        """The held pieces that now come next, fed one after another."""
        out: list[Payload | Observation] = []
        while self.early and self.last is not None:
            key = next((k for k in _after(self.last, self.part_size) if k in self.early), None)
            if key is None:
                break
            out += self._feed(self._take(key), False, gap=False)
        return out

    def _take(self, key: tuple[int, int]) -> _Piece:
        piece = self.early.pop(key)
        self.early_bytes -= len(piece.data)
        return piece

    def _followed(self, piece: _Piece) -> bool:
        """Whether a piece held follows ``piece`` (its part taken to end with it)."""
        return any(k in self.early for k in _after(piece, piece.offset + len(piece.data)))

    def _next(self, piece: _Piece) -> bool:
        """Whether ``piece`` follows the piece fed last."""
        return self.last is not None and (piece.number, piece.offset) in _after(self.last, self.part_size)

    def _feed(self, piece: _Piece, in_line: bool, gap: bool) -> list[Payload | Observation]:
        """Read ``piece`` next: only kept while every piece came in line (its connection's stream read it
        so), else read by the upload's stream (after the pieces kept, their output dropped, when it is
        the first out of line)."""
        if self.across_sites:       # its site's upload read it, as long as one site had them all
            self.sites.add(site(piece.ctx.destination))
            in_line = len(self.sites) < 2
        self.seen[(piece.number, piece.offset)] = None
        if len(self.seen) > MAX_SEEN:
            self.seen.popitem(last=False)
        self.part_size = self.part_size + len(piece.data) if self.last is not None and piece.number == self.last.number \
            else len(piece.data)
        self.last = piece
        self._keep(piece)
        if self.lined and in_line:
            return []
        if self.lined:
            self.lined = False
            for kept in list(self.history)[:-1]:     # read again so the stream is where the connection's was
                self._read(kept)
        return (self._gap() if gap else []) + self._read(piece)

    def _restart(self, piece: _Piece) -> list[Payload | Observation]:
        """Part 0 after an upload began at part 1 (numbers from 1, it seemed): read again from it, and
        the pieces kept after it (output kept: no stream read them in this order)."""
        kept = list(self.history)
        self.follower, self.at, self.lined, self.last = StreamFollower(piece.ctx.shared), 0, False, None
        out = self.joined.end()
        self.history.clear()
        self.history_bytes = 0
        out += self._feed(piece, False, gap=False)
        for again in kept:
            out += self._feed(again, False, gap=False)
        return out

    def _keep(self, piece: _Piece) -> None:
        self.history.append(piece)
        self.history_bytes += len(piece.data)
        while self.history_bytes > PARTS_HISTORY:
            self.history_bytes -= len(self.history.popleft().data)

    def _read(self, piece: _Piece) -> list[Payload | Observation]:
        label = (*piece.label, LABEL)
        out = self.follower.follow(piece.ctx, piece.data, self.at, "out", label, piece.t_first, piece.t_last,
                                   piece.meta)
        self.at += len(piece.data)
        if len(piece.data) < JOIN_BELOW:
            out += self.joined.add(piece.ctx, piece.data, label, piece.t_first, piece.t_last, piece.meta)
        return out

    def _gap(self) -> list[Payload | Observation]:
        """Pieces are missing before the next: the stream cannot go on (a deflate stream's next block is
        looked for), the joined batch ends."""
        self.follower.gap()
        return self.joined.end()


def _after(piece: _Piece, part_size: int) -> tuple[tuple[int, int], ...]:
    """The (number, offset) of each piece that may follow ``piece`` of a part of ``part_size`` bytes so
    far: the rest of its part, or the next part's start by number or by offset."""
    return ((piece.number, piece.offset + len(piece.data)), (piece.number + 1, 0), (piece.number + part_size, 0))


_TOKENS = itertools.count()   # what a connection's stream read, by number


class PartStreams:
    """One HTTP direction's body pieces with a part number, each handed to its site's and path's upload,
    with what the connection's message stream of that path (``stream_key``) read before it."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.read: OrderedDict[str, int] = OrderedDict()   # by stream key: the token of what its stream read last

    def follow(self, parts: tuple[Part, ...], stream_key: str, data: bytes, offset: int, direction: str,
               label: tuple[str, ...], t_first: float, t_last: float,
               meta: dict[str, Any]) -> list[Payload | Observation]:
        """A piece of a request's body (``offset`` into it) to the upload of each part it may be
        (``parts_of``), or, naming none, to its path's in the order they come (outbound only)."""
        if direction != "out" or not data:
            return []
        before = self.read.pop(stream_key, None)
        if len(self.read) >= MAX_KEYS:
            self.read.popitem(last=False)
        token = self.read[stream_key] = next(_TOKENS)
        if not parts and len(data) < JOIN_BELOW:
            return []       # short bodies are joined across connections as they come (``MessageStreams``)
        out: list[Payload | Observation] = []
        here = site(self.ctx.destination)
        # each part's upload to this site, and to every site (parts sent to two sites by turns)
        for where, key, number in ([(w, key, n) for key, n in parts for w in (here, EVERY_SITE)]
                                   or [(here, ARRIVAL + stream_key, -1)]):
            upload = self._upload(where, key, out)
            if number < 0:                              # no number: the order they come in
                number, offset = upload.arrived, 0
                upload.arrived += 1
            out += upload.add(_Piece(number, offset, data, self.ctx, label, t_first, t_last, meta, token, before))
        return out

    def _upload(self, where: str | None, key: str, out: list[Payload | Observation]) -> Upload:
        """The upload of ``key`` to site ``where`` (EVERY_SITE: to every site), made when new (what one
        let go for its room hands on goes to ``out``)."""
        table: OrderedDict[tuple[str | None, str], Upload] = self.ctx.shared.setdefault(UPLOADS, OrderedDict())
        upload = table.pop((where, key), None)
        if upload is None:
            upload = Upload(self.ctx, across_sites=where == EVERY_SITE)
            if len(table) >= MAX_UPLOADS:
                out += table.popitem(last=False)[1].end()
        table[(where, key)] = upload
        return upload


def flush_uploads(shared: dict[str, Any], before: float | None,
                  expire: float | None = float("-inf")) -> list[Payload | Observation]:
    """The pieces held since ``before`` or earlier (all with None: the capture's end) fed, and the
    uploads quiet since ``expire`` or earlier (all with None) let go; the Dissector calls it as it
    sweeps its flows."""
    table: OrderedDict[tuple[str | None, str], Upload] | None = shared.get(UPLOADS)
    if not table:
        return []
    out = [item for upload in table.values() for item in upload.flush(before) + (
        upload.joined.flush() if not upload.lined and (before is None or upload.t_last <= before) else [])]
    for where in [w for w, upload in table.items() if expire is None or upload.t_last <= expire]:
        out += table.pop(where).end()
    return out
