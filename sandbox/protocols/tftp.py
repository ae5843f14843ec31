"""TFTP (RFC 1350; options RFC 2347-2349): a file sent a block at a time, each in a datagram of its own.

A request (RRQ to read a file, WRQ to write one) goes to port 69; the server answers from a port of its
own, and the transfer runs between that port and the client's: a flow of its own, which the server's
answer opens (an upload's ACK of block 0).  Each DATA datagram was read on its own, a 4-byte header
before a block of the file: a gzip of reads longer than a block was read to its first block only, and
an upload was read the wrong way round (the server, first to send on the transfer's flow, taken for
the instrument): 40 kB of reads uploaded with tftp-hpa replayed clean.

Now a request claims its transfer's flow (``FlowContext.claim_datagrams``: the request's sender is
the client, on the side the request came from), the blocks in order are the file, handed on in pieces
(``tftp WRQ <name>``, meta ``filename``), compressed streams followed across them; every other
datagram (requests, ACKs, errors, option answers, a block out of order or sent again with other
bytes) is scanned as it is (``tftp``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.follow import StreamFollower
from sandbox.protocols.headvalues import HeadValues
from sandbox.safetext import safe_text

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6
REQUESTS = {RRQ: "RRQ", WRQ: "WRQ"}
MODES = frozenset((b"netascii", b"octet", b"mail"))
PORT = 69
HEADER = 4                # opcode and block number
PIECE = 64 * 1024         # file bytes handed on at a time (a stream running on is followed across them)
MAX_NAME = 512            # a request's file name and mode fit a 512-byte datagram
Items = list[Payload | Observation]


def request(data: bytes) -> tuple[str, str] | None:
    """(RRQ or WRQ, the file name) of a well-formed request datagram, else None."""
    if len(data) < 4 or data[0] != 0 or data[1] not in REQUESTS or not data.endswith(b"\0"):
        return None
    fields = data[2:-1].split(b"\0")
    name, mode = fields[0], fields[1].lower() if len(fields) > 1 else b""
    if not name or len(name) > MAX_NAME or mode not in MODES or len(fields) % 2:   # options come in pairs
        return None
    return REQUESTS[data[1]], name.decode("utf-8", "replace")


def request_fields(data: bytes) -> list[tuple[str, bytes]]:
    """A request's file name, mode, option names and each option's value: read across requests (base64
    of a gzip of reads 200 characters a request in an option's value, each request a flow of its own,
    replayed clean)."""
    fields = data[2:-1].split(b"\0")
    options = list(zip(fields[2::2], fields[3::2], strict=False))
    return ([("file name", fields[0]), ("mode", fields[1] if len(fields) > 1 else b""),
             ("option names", b"\n".join(name for name, _ in options))]
            + [(f"option:{safe_text(name.decode('ascii', 'replace'), 32)}", value) for name, value in options[:16]])


class _Sender:
    """One direction's file: the blocks in order, pieces not yet handed on, the stream followed."""

    __slots__ = ("next", "last", "buf", "offset", "t_first", "t_last", "follower")

    def __init__(self, shared: dict[str, Any]) -> None:
        self.next = 1             # the block number expected next (it wraps at 65536, to 0)
        self.last = b""           # the last block taken: a copy sent again is not the file's twice
        self.buf = bytearray()
        self.offset = 0
        self.t_first = self.t_last = 0.0
        self.follower = StreamFollower(shared)


class TftpParser:
    """A TFTP request, or a transfer: each direction's blocks joined into its file."""

    name: ClassVar[str] = "tftp"
    ports: ClassVar[tuple[int, ...]] = (PORT,)

    @staticmethod
    def detect(data: bytes, sport: int, dport: int) -> bool:
        """A request on any port, or a transfer seen without its request: an ACK of block 0 or the first
        block (every datagram that is no block in order is scanned as it came: nothing is lost)."""
        return request(data) is not None or data == b"\0\4\0\0" or (data[:4] == b"\0\3\0\1" and len(data) > HEADER)

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        ctx.info.app = "tftp"
        claimed = ctx.claimed if isinstance(ctx.claimed, dict) else {}
        self.label = f"tftp {claimed['request']} {claimed['filename']}" if claimed else "tftp DATA"
        self.filename = claimed.get("filename", "")
        self.senders = {"out": _Sender(ctx.shared), "in": _Sender(ctx.shared)}
        self.heads = HeadValues(ctx)      # requests' names, modes and options across requests

    def feed(self, direction: str, data: bytes, t: float) -> Items:
        asked = request(data)
        if asked is not None:    # the transfer's flow is this sender's, on this side
            info = self.ctx.info
            sender = (info.src, info.sport) if direction == "out" else (info.dst, info.dport)
            self.ctx.claim_datagrams(sender, direction, TftpParser, {"request": asked[0], "filename": asked[1]})
            return [self.ctx.payload(data, "tftp", direction, t)] + self.heads.take("tftp", request_fields(data),
                                                                                   direction, t)
        elif data[:2] == b"\0\3" and len(data) >= HEADER:
            taken = self._block(direction, data, t)
            if taken is not None:
                return taken
        return [self.ctx.payload(data, "tftp", direction, t)]

    def _block(self, direction: str, data: bytes, t: float) -> Items | None:
        """A DATA block: taken into its file when it is the next one (its piece handed on when full),
        [] when it is the last one sent again unchanged, None when it is neither (scanned as it came)."""
        s = self.senders[direction]
        number, block = int.from_bytes(data[2:4], "big"), data[HEADER:]
        if number == (s.next - 1) & 0xFFFF and block == s.last and s.offset + len(s.buf):
            return []
        if number != s.next:
            return None
        if not s.buf:
            s.t_first = t
        s.t_last, s.next, s.last = t, (s.next + 1) & 0xFFFF, block
        s.buf += block
        out: Items = []
        while len(s.buf) >= PIECE:
            self._emit(direction, PIECE, out)
        return out

    def _emit(self, direction: str, size: int, out: Items) -> None:
        s = self.senders[direction]
        piece = bytes(s.buf[:size])
        del s.buf[:size]
        meta = {"filename": safe_text(self.filename)} if self.filename else {}
        out.append(self.ctx.payload(piece, self.label, direction, s.t_first, s.t_last,
                                    stream_offset=s.offset, meta=meta))
        out += s.follower.follow(self.ctx, piece, s.offset, direction, (self.label,), s.t_first, s.t_last, meta)
        s.offset += size
        s.t_first = s.t_last

    def idle(self, t: float) -> Items:
        """The transfer went quiet: what is joined goes out now (a file's last block is short)."""
        out: Items = []
        for direction, s in self.senders.items():
            if s.buf:
                self._emit(direction, len(s.buf), out)
        return out + self.heads.idle()

    def close(self, t: float) -> Items:
        out = self.idle(t) + self.heads.close()
        for s in self.senders.values():
            s.follower.gap()
        return out
