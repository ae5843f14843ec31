"""Length-prefixed records on a flow no parser knows: their bodies read on as one stream.

A gzip of reads behind 150 kB of noise sent in records of 16 kB on a port no parser knows, each behind
a length (Kafka's, Thrift's framing: four bytes), a length and a sequence number (MySQL's packets),
an 8-byte header (TDS, SQL Server's), a 16-byte one (MongoDB's), replayed clean: the header at the
head of each record broke the compressed stream, and what followed it was read as random bytes.

The first DETECT_BYTES of an outbound raw flow are walked under each way of framing (``FRAMINGS``: a
length of 2, 3 or 4 bytes, either byte order, at one of a few offsets, counting the record or what
follows it and 0, 1, 2, 4 or 8 header bytes more; where none fits, any other count of header bytes up to
MAX_EXTRA, all walked at once over the first records); a framing whose walk crosses MIN_RECORDS records and lands
on the flow's bytes exactly, with evidence beyond chance (records of one size, a header byte the
same in all of them, or a length too wide for chance to fit), is the flow's.  Where in each record
its body starts is what makes the bodies one compressed stream furthest (else right after the
length and the bytes it does not count).  The first record may follow a preamble of a few lines of
text (a banner, a greeting the protocol opens with).  From then on the bodies are followed as one stream
(``StreamFollower``: "records > gzip stream"); a record that does not fit ends it.  The raw chunks
are read as before: this is another reading, never instead of one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import Held, StreamFollower

DETECT_BYTES = 128 << 10      # a flow's first bytes its framing is looked for in
MIN_RECORDS = 3               # whole records a framing's walk must cross
# After MIN_RECORDS_KEPT records, bodies of fewer than MIN_KEPT bytes on average end the reading (a
# flood of tiny records costs a pass each; the raw chunks still hold every byte)
MIN_RECORDS_KEPT, MIN_KEPT = 64, 16
MIN_RECORDS_SAME = 5          # ... with a header byte the same in each (a 2-byte length's evidence)
MIN_MEAN_RECORD = 24          # bytes a record holds on average (shorter ones hold too little to be worth a pass)
MAX_RECORD = 16 << 20
MAX_LINE = 256                # bytes of a header line
PREAMBLE, PREAMBLE_LINES = 1024, 4   # a text preamble before the first record: its bytes and lines at most
MAX_HEADER = 32               # header bytes past the length (and those it does not count) a body may start after
# Bytes all of a Dissector's flows may hold while their framing is looked for (a flood of raw flows)
MAX_HELD = 16 << 20
HELD = "framing bytes held"   # key in the Dissector's ``shared``
LABEL = "records"
MIN_BINARY = 0.1              # of a line framing's bodies that are no text (text in lines is read as it is)
_NUMBERS = re.compile(rb"\d{1,9}")
_LINE_TEXT = bytes(range(0x20, 0x7F)) + b"\r\t"


@dataclass(frozen=True)
class Framing:
    """A length of ``width`` bytes at ``offset`` in each record, counting the whole record (``whole``)
    or what follows it and ``extra`` header bytes after it."""

    offset: int
    width: int
    order: str
    whole: bool
    extra: int = 0
    trailer = 0

    def size(self, data: bytes | bytearray, at: int) -> int | None:
        """The size of the record at ``at`` (None: its length is not in ``data`` yet)."""
        field = at + self.offset
        if field + self.width > len(data):
            return None
        value = int.from_bytes(data[field:field + self.width], self.order)
        return value if self.whole else self.offset + self.width + self.extra + value

    @property
    def header(self) -> int:
        return self.offset + self.width + self.extra

    def need(self, record: bytes | bytearray) -> int:
        """Bytes of a record to read before its size is known."""
        return self.offset + self.width - len(record)

    def body_at(self, record: bytes | bytearray, start: int) -> int:
        """Where the body of ``record`` starts: ``start``, found for the flow (``body_start``)."""
        return start


@dataclass(frozen=True)
class LineFraming:
    """A line of text before each record's body whose ``number``-th decimal number is the body's length
    (``{"seq": 7, "len": 16384}``, ``$16384``), the body followed by ``trailer`` bytes (a line break)."""

    number: int
    trailer: int = 0
    header: int = 2

    def size(self, data: bytes | bytearray, at: int) -> int | None:
        """The size of the record at ``at`` (None: its line is not in ``data`` yet; 0: no such line)."""
        end = data.find(b"\n", at, at + MAX_LINE)
        if end < 0:
            return None if len(data) - at < MAX_LINE else 0
        line = bytes(data[at:end])
        numbers = _NUMBERS.findall(line)
        if line.translate(None, _LINE_TEXT) or len(numbers) <= self.number:
            return 0
        return end + 1 - at + int(numbers[self.number]) + self.trailer

    def need(self, record: bytes | bytearray) -> int:
        return MAX_LINE - len(record)

    def body_at(self, record: bytes | bytearray, start: int) -> int:
        return record.find(b"\n") + 1


EXTRAS = (0, 1, 2, 4, 8)      # header bytes past a length it does not count, always tried
FRAMINGS: tuple[Framing | LineFraming, ...] = (
    *(Framing(offset, width, order, whole, extra)
      for offset in (0, 1, 2, 4) for width in (2, 3, 4) for order in ("big", "little")
      for whole, extra in ((True, 0), *((False, e) for e in EXTRAS))),
    *(LineFraming(number, trailer) for number in range(4) for trailer in (0, 2)))
# Other counts of header bytes a length does not count (a sequence number, an offset, a nonce or a tag
# of the sender's: 28 bytes of them behind a length of 200 replayed clean), up to MAX_EXTRA: tried where
# the first EXTRA_PROBE records fit them
MAX_EXTRA = 64
EXTRA_PROBE = 3


def _other_extras(data: bytes) -> list[Framing]:
    """Framings of a length that does not count EXTRA_PROBE records' headers of a size EXTRAS does not
    hold, whose first records fit the data (each next length a record's size away; a two-byte one's of
    one size): every count of header bytes walked at once.  Text opens with no binary length (its lines
    are the line framings')."""
    found: list[Framing] = []
    if not data[:EXTRA_PROBE * 16].translate(None, _LINE_TEXT + b"\n"):
        return found
    array = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    extras = np.arange(MAX_EXTRA + 1)
    for offset in (0, 1, 2, 4):
        for width in (2, 3, 4):
            weights = 256 ** np.arange(width)[::-1]
            for order in ("big", "little"):
                shifts = weights if order == "big" else weights[::-1]
                at = np.zeros(len(extras), dtype=np.int64)
                alive = np.ones(len(extras), dtype=bool)
                first = None
                for _ in range(EXTRA_PROBE):
                    field = at + offset
                    alive &= field + width <= len(array)
                    fields = np.where(alive, field, 0)[:, None] + np.arange(width)
                    value = (array[np.minimum(fields, len(array) - 1)] * shifts).sum(axis=1)
                    size = offset + width + extras + value
                    alive &= (value > 0) & (size <= MAX_RECORD) & (at + size <= len(array))
                    if width == 2:      # two bytes fit by chance: records of one size (a file's chunks)
                        first = size if first is None else first
                        alive &= size == first
                    at = at + np.where(alive, size, 0)
                found += [Framing(offset, width, order, False, int(e)) for e in extras[alive] if e not in EXTRAS]
    return found


def _walk(framing: Framing | LineFraming, data: bytes) -> list[tuple[int, int]] | None:
    """The records (start, size) ``framing`` finds from ``data``'s start to its end (the last may run
    past it), or None where a record does not fit."""
    records, at = [], 0
    while at < len(data):
        size = framing.size(data, at)
        if size is None:
            break
        if size < framing.header + 1 or size > MAX_RECORD:
            return None
        records.append((at, size))
        at += size
    return records


def _evident(framing: Framing | LineFraming, data: bytes, records: list[tuple[int, int]]) -> bool:
    """Whether the walk is beyond chance: MIN_RECORDS whole ones of MIN_MEAN_RECORD bytes on average,
    and lengths of three bytes or more (random ones overrun the first bytes), records of one size (the
    last perhaps shorter: a file's last chunk), or
    (MIN_RECORDS_SAME of them) a header byte the same in each: any two bytes are a length that fits;
    a line framing's bodies MIN_BINARY bytes that are no text (numbers in text lead from line to line)."""
    whole = [(at, size) for at, size in records if at + size <= len(data)]
    if len(whole) < MIN_RECORDS or sum(size for _, size in whole) < MIN_MEAN_RECORD * len(whole):
        return False
    if isinstance(framing, LineFraming):
        bodies = b"".join(data[at + framing.body_at(data[at:at + MAX_LINE], 0):at + size] for at, size in whole)
        return len(bodies.translate(None, _LINE_TEXT + b"\n")) >= MIN_BINARY * len(bodies)
    if framing.width >= 3 or (len({size for _, size in whole[:-1]}) == 1 and whole[-1][1] <= whole[0][1]):
        return True
    spots = [n for n in range(framing.header) if not framing.offset <= n < framing.offset + framing.width]
    return len(whole) >= MIN_RECORDS_SAME and any(len({data[at + n] for at, _ in whole}) == 1 for n in spots)


def find_framing(data: bytes) -> tuple[Framing | LineFraming, list[tuple[int, int]], int] | None:
    """The framing of a flow whose first bytes are ``data``, its records there and where the first one
    starts: the flow's start, or after a preamble of up to PREAMBLE_LINES lines of text (a banner, a
    ``HELLO v2`` the protocol opens with); None if none.  Of the framings that fit, the one of the most
    records: records of 68 bytes behind a little-endian length of 64 (0x4000 read big-endian) are also
    records of 16,388 bytes, each 241 of them.  Framings of other header sizes (``_other_extras``) are
    looked for only where none of ``FRAMINGS`` fits."""
    starts = _starts(data)
    return _best(data, starts, lambda body: FRAMINGS) or _best(data, starts, _other_extras)


def _best(data: bytes, starts: list[int], framings: Callable[[bytes], Iterable[Framing | LineFraming]]
          ) -> tuple[Framing | LineFraming, list[tuple[int, int]], int] | None:
    """Of the framings ``framings`` gives a body, the one of the most records that fits, at the first
    start where one does."""
    for start in starts:
        body = data[start:]
        best: tuple[Framing | LineFraming, list[tuple[int, int]], int] | None = None
        for framing in framings(body):
            records = _walk(framing, body)
            if records is not None and (best is None or len(records) > len(best[1])) \
                    and _evident(framing, body, records):
                best = framing, records, start
        if best is not None:
            return best
    return None


def _starts(data: bytes) -> list[int]:
    """The flow's start, and the end of each of its first PREAMBLE_LINES lines of text."""
    starts, at = [0], 0
    while len(starts) <= PREAMBLE_LINES:
        end = data.find(b"\n", at, PREAMBLE)
        if end < 0 or data[at:end].translate(None, _LINE_TEXT):
            break
        starts.append(end + 1)
        at = end + 1
    return starts


def body_start(data: bytes, records: list[tuple[int, int]], framing: Framing | LineFraming) -> int:
    """Where a record's body starts: the offset at which the whole records' bodies decode furthest as one
    compressed stream (a decoder that stops at the next header makes less), else right after the
    header the framing names."""
    if isinstance(framing, LineFraming):
        return 0            # each record's own line says
    whole = [(at, size) for at, size in records if at + size <= len(data)]
    best, made = framing.header, 0
    for start in range(framing.header, min(framing.header + MAX_HEADER, min(size for _, size in whole))):
        follower = StreamFollower({})
        out = 0
        for n, (at, size) in enumerate(whole):
            piece = follower.piece(data[at + start:at + size], n)
            out += len(piece.data) if piece is not None else 0
        if out > made:
            best, made = start, out
    return best


class RecordFraming:
    """One direction of a raw flow: its framing looked for in its first bytes, then its records'
    bodies followed as one stream."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.held: Held = ctx.shared.setdefault(HELD, Held())
        self.head: bytearray | None = bytearray()   # the first bytes, while the framing is looked for
        self.framing: Framing | LineFraming | None = None
        self.start = 0                 # where a record's body starts (found for the flow)
        self.body = 0                  # ... the one in progress
        self.record = bytearray()      # the header of the record in progress, until its length is in
        self.size = 0                  # its size, once its length is in
        self.filled = 0                # ... and its bytes so far
        self.follower = StreamFollower(ctx.shared)
        self.at = 0                    # bytes of the bodies so far
        self.records = 0               # records so far
        self.t_first = 0.0

    def feed(self, data: bytes, t: float) -> list[Payload | Observation]:
        if self.head is not None:
            return self._look(data, t)
        if self.framing is None:
            return []
        out: list[Payload | Observation] = []
        bodies = bytearray()         # this feed's body bytes, followed at once
        view = memoryview(data)
        while view:
            if self.at and not self.size and not self.record and type(self.framing) is Framing:
                view = self._whole_records(view, bodies)
                if view is None:
                    return out + self._body(bytes(bodies), t) + self.end(t)
                if not view:
                    break
            if not self.size:
                need = max(self.framing.need(self.record), 0)
                self.record += view[:need]
                view = view[need:]
                size = self.framing.size(self.record, 0)
                if size is None:
                    continue
                self.body = self.framing.body_at(self.record, self.start)
                self.records += 1
                if self._ends(size, max(self.body, self.framing.header) + 1, len(bodies)):
                    return out + self._body(bytes(bodies), t) + self.end(t)
                self.size = size
                if len(self.record) > size:         # read past the record (a line framing's header): the
                    over = len(self.record) - size  # line ended in what was taken now, so those bytes are
                    view = memoryview(data)[len(data) - len(view) - over:]      # this feed's
                    del self.record[size:]
                bodies += self.record[self.body:size - self.framing.trailer]
                self.filled = len(self.record)      # the header is let go: a record's bytes are counted,
                self.record.clear()                 # never held (a record may be 16 MiB)
            take = min(len(view), self.size - self.filled)
            low = max(0, self.body - self.filled)
            high = min(take, self.size - self.framing.trailer - self.filled)
            if high > low:
                bodies += view[low:high]
            self.filled += take
            view = view[take:]
            if self.filled == self.size:
                self.size = self.filled = 0
                if not self.at:     # the first body is a piece of its own: the raw chunk decodes it
                    out += self._body(bytes(bodies), t)
                    bodies.clear()
        return out + self._body(bytes(bodies), t)

    def _whole_records(self, view: memoryview, bodies: bytearray) -> memoryview | None:
        """The records whole in ``view`` (after the first), their bodies added to ``bodies``, in one tight
        loop (a flood of records of 28 bytes: a pass of the general one each); what is left of ``view``
        (a record it holds only part of), or None where a record does not fit."""
        framing = self.framing
        assert isinstance(framing, Framing)
        offset, width, order, whole = framing.offset, framing.width, framing.order, framing.whole
        header, least, body, end = framing.header, max(self.start, framing.header) + 1, self.start, len(view)
        at = 0
        while at + offset + width <= end:
            value = int.from_bytes(view[at + offset:at + offset + width], order)
            size = value if whole else header + value
            if at + size > end:
                break                       # the general loop takes it from its header
            self.records += 1
            if self._ends(size, least, len(bodies)):
                return None
            bodies += view[at + body:at + size]
            at += size
        return view[at:]

    def _ends(self, size: int, least: int, held: int) -> bool:
        """Whether a record of ``size`` bytes (the ``self.records``-th, ``held`` bytes of this feed's bodies
        before it) ends the reading: it does not fit (under ``least``, past MAX_RECORD), or after
        MIN_RECORDS_KEPT records the bodies are a few bytes each (messages, not a file's pieces)."""
        return size < least or size > MAX_RECORD or \
            (self.records >= MIN_RECORDS_KEPT and self.at + held < MIN_KEPT * self.records)

    def _look(self, data: bytes, t: float) -> list[Payload | Observation]:
        assert self.head is not None
        if not self.head:
            self.t_first = t
        room = min(DETECT_BYTES - len(self.head), len(data))
        if self.held.bytes + room > MAX_HELD:
            return self._give_up()
        self.head += data[:room]
        self.held.bytes += room
        if len(self.head) < DETECT_BYTES:
            return []
        return self._decide(data[room:], t, final=True)

    def _decide(self, rest: bytes, t: float, final: bool) -> list[Payload | Observation]:
        """The framing of the first bytes, if they have one: their records followed, then ``rest``;
        if not, looked for no more when ``final`` (else when more bytes come)."""
        head = bytes(self.head or b"")
        found = find_framing(head)
        if found is None:
            return self._give_up() if final else []
        self._give_up()
        self.framing, records, first = found
        self.start = body_start(head[first:], records, self.framing)
        return self.feed(head[first:] + rest, t)

    def _give_up(self) -> list[Payload | Observation]:
        if self.head is not None:
            self.held.bytes -= len(self.head)
            self.head = None
        return []

    def _body(self, body: bytes, t: float) -> list[Payload | Observation]:
        if not body:
            return []
        out = self.follower.follow(self.ctx, body, self.at, "out", (LABEL,), self.t_first, t)
        self.at += len(body)
        self.t_first = t
        return out

    def idle(self, t: float) -> list[Payload | Observation]:
        """The flow went quiet before DETECT_BYTES: its framing is looked for in what came (and again
        as more comes, if none is found)."""
        return self._decide(b"", t, final=False) if self.head else []

    def end(self, t: float) -> list[Payload | Observation]:
        """A hole, a record that does not fit, the flow's end: its framing looked for in what came if it
        still was, and the stream let go."""
        out = self._decide(b"", t, final=True) if self.head else []
        self._give_up()
        self.framing = None
        self.follower.gap()
        return out
