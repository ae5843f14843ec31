"""Length-prefixed records on a flow no parser knows: their bodies read on as one stream.

A gzip of reads behind 150 kB of noise sent in records of 16 kB on a port no parser knows, each behind
a length (Kafka's, Thrift's framing: four bytes), a length and a sequence number (MySQL's packets),
an 8-byte header (TDS, SQL Server's), a 16-byte one (MongoDB's), replayed clean: the header at the
head of each record broke the compressed stream, and what followed it was read as random bytes.

The first DETECT_BYTES of an outbound raw flow are walked under each way of framing (``FRAMINGS``: a
length of 2, 3 or 4 bytes, either byte order, at one of a few offsets, counting the record or what
follows it and a few header bytes more); a framing whose walk crosses MIN_RECORDS records and lands
on the flow's bytes exactly, with evidence beyond chance (records of one size, a header byte the
same in all of them, or a length too wide for chance to fit), is the flow's.  Where in each record
its body starts is what makes the bodies one compressed stream furthest (else right after the
length and the bytes it does not count).  From then on the bodies are followed as one stream
(``StreamFollower``: "records > gzip stream"); a record that does not fit ends it.  The raw chunks
are read as before: this is another reading, never instead of one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import Held, StreamFollower

DETECT_BYTES = 128 << 10      # a flow's first bytes its framing is looked for in
MIN_RECORDS = 3               # whole records a framing's walk must cross
MIN_RECORDS_SAME = 5          # ... with a header byte the same in each (a 2-byte length's evidence)
MIN_MEAN_RECORD = 256         # bytes a record holds on average (short messages are not a file's pieces)
MAX_RECORD = 16 << 20
MAX_HEADER = 32               # header bytes past the length (and those it does not count) a body may start after
# Bytes all of a Dissector's flows may hold while their framing is looked for (a flood of raw flows)
MAX_HELD = 16 << 20
HELD = "framing bytes held"   # key in the Dissector's ``shared``
LABEL = "records"


@dataclass(frozen=True)
class Framing:
    """A length of ``width`` bytes at ``offset`` in each record, counting the whole record (``whole``)
    or what follows it and ``extra`` header bytes after it."""

    offset: int
    width: int
    order: str
    whole: bool
    extra: int = 0

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


FRAMINGS = tuple(Framing(offset, width, order, whole, extra)
                 for offset in (0, 1, 2, 4) for width in (2, 3, 4) for order in ("big", "little")
                 for whole, extra in ((True, 0), *((False, e) for e in (0, 1, 2, 4, 8))))


def _walk(framing: Framing, data: bytes) -> list[tuple[int, int]] | None:
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


def _evident(framing: Framing, data: bytes, records: list[tuple[int, int]]) -> bool:
    """Whether the walk is beyond chance: MIN_RECORDS whole ones of MIN_MEAN_RECORD bytes on average,
    and lengths of three bytes or more (random ones overrun the first bytes), records of one size, or
    (MIN_RECORDS_SAME of them) a header byte the same in each: any two bytes are a length that fits."""
    whole = [(at, size) for at, size in records if at + size <= len(data)]
    if len(whole) < MIN_RECORDS or sum(size for _, size in whole) < MIN_MEAN_RECORD * len(whole):
        return False
    if framing.width >= 3 or len({size for _, size in whole}) == 1:
        return True
    spots = [n for n in range(framing.header) if not framing.offset <= n < framing.offset + framing.width]
    return len(whole) >= MIN_RECORDS_SAME and any(len({data[at + n] for at, _ in whole}) == 1 for n in spots)


def find_framing(data: bytes) -> tuple[Framing, list[tuple[int, int]]] | None:
    """The framing of a flow whose first bytes are ``data``, and its records there (None if none)."""
    for framing in FRAMINGS:
        records = _walk(framing, data)
        if records is not None and _evident(framing, data, records):
            return framing, records
    return None


def body_start(data: bytes, records: list[tuple[int, int]], framing: Framing) -> int:
    """Where a record's body starts: the offset at which the whole records' bodies decode furthest as one
    compressed stream (a decoder that stops at the next header makes less), else right after the
    header the framing names."""
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
        self.framing: Framing | None = None
        self.start = 0                 # where a record's body starts
        self.record = bytearray()      # the record in progress (its header, then its body's bytes)
        self.size = 0                  # its size, once its length is in
        self.follower = StreamFollower(ctx.shared)
        self.at = 0                    # bytes of the bodies so far
        self.t_first = 0.0

    def feed(self, data: bytes, t: float) -> list[Payload | Observation]:
        if self.head is not None:
            return self._look(data, t)
        if self.framing is None:
            return []
        out: list[Payload | Observation] = []
        view = memoryview(data)
        while view:
            if not self.size:
                need = self.framing.offset + self.framing.width - len(self.record)
                self.record += view[:max(need, 0)]
                view = view[max(need, 0):]
                size = self.framing.size(self.record, 0)
                if size is None:
                    break
                if size < self.start + 1 or size > MAX_RECORD:
                    return out + self.end(t)
                self.size = size
            take = min(len(view), self.size - len(self.record))
            body = bytes(view[max(0, self.start - len(self.record)):take])
            self.record += view[:take]
            view = view[take:]
            out += self._body(body, t)
            if len(self.record) == self.size:
                self.record.clear()
                self.size = 0
        return out

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
        self.framing, records = found
        self.start = body_start(head, records, self.framing)
        return self.feed(head + rest, t)

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
