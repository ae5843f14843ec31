"""SMB 2 and 3 (Windows file shares, Samba): the files an instrument writes to a share or serves from one.

Sequencers and their control PCs copy run folders to network shares.  Without this parser such a
flow was raw bytes: the files unnamed, SMB's headers cut into them every write, and the messages
SMB 3.1.1 compresses (LZ77, LZNT1, LZ77+Huffman, LZ4, Pattern_V1: MS-SMB2 2.2.42) unread, so reads
written to the allowed share through compression were counted as ciphertext.  Now each outbound
WRITE (the instrument a client) and each outbound READ response (the instrument a server) is a
piece of its file, labelled ``smb2 WRITE \\\\server\\share\\path`` from the share (TREE_CONNECT)
and the name (CREATE); pieces of one file written in order are joined up to FILE_PIECE, so what
spans writes is whole in one payload.  Compressed messages are expanded (``sandbox.decode.msxca``)
and parsed as the messages they stand for; what cannot be expanded is said (``not_examined``).
Every other byte the instrument sends (headers, names, security blobs, IOCTLs, SMB 1) is scanned as
it is, in pieces labelled ``smb2``; encrypted messages (the TRANSFORM header) are counted as sealed
volume and scanned too.  A side that breaks the framing goes raw from there.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import Any, ClassVar

from sandbox.decode import msxca
from sandbox.decode.limits import DEFAULT_LIMITS, LimitHit
from sandbox.model import Observation, Payload
from sandbox.protocols.context import MAX_LABEL_PATH, FlowContext
from sandbox.protocols.follow import StreamFollower
from sandbox.protocols.pieces import Piece, Pieces
from sandbox.protocols.raw import RAW_CHUNK, RawParser
from sandbox.safetext import safe_text

Items = list[Payload | Observation]

SMB2 = b"\xfeSMB"
SMB1 = b"\xffSMB"
SEALED = b"\xfdSMB"           # TRANSFORM_HEADER: an encrypted message (SMB 3)
COMPRESSED = b"\xfcSMB"       # COMPRESSION_TRANSFORM_HEADER (SMB 3.1.1)
PROTOCOL_IDS = (SMB2, SMB1, SEALED, COMPRESSED)
SMB_PORTS = (445, 139)
# Session service packet types (RFC 1002 4.3; direct TCP on 445 uses only 0x00): message, session
# request, positive and negative response, retarget, keepalive.
SESSION_TYPES = frozenset({0x00, 0x81, 0x82, 0x83, 0x84, 0x85})
HEADER = 64
FILE_PIECE = 1 << 20          # bytes of one file handed on at once: a few writes of Windows' size
# What a compressed message may expand to: SMB's largest writes are 8 MiB; past this the rest is said.
MAX_EXPANDED = 32 << 20
MAX_PENDING = 4096            # requests awaiting their responses (credits a client holds are fewer)
# A WRITE or READ response this large is handed on as it comes, not once whole: 64 KiB and more.
STREAM_MIN = RAW_CHUNK
MAX_FILES = 65536             # open files and trees remembered, the oldest forgotten first
FLAG_RESPONSE, FLAG_ASYNC = 0x1, 0x2
STATUS_PENDING = 0x103
NEGOTIATE, TREE_CONNECT, CREATE, READ, WRITE = 0, 3, 5, 8, 9
RELATED_FILE = b"\xff" * 16   # a compound's later request names the file the CREATE before it opened
SHARED_NAMES = "smb names"    # key in the Dissector's ``shared`` of the tables of shares and files
UNNAMED = "an unnamed file"   # a file whose CREATE the capture did not hold

_HEAD = struct.Struct("<4sHHIHHIIQ")   # protocol, size, credit charge, status, command, credits, flags, next, id
_COMPRESSED = struct.Struct("<4sIHHI")  # protocol, original size, algorithm, flags, offset (or the first length)
_CHAINED = struct.Struct("<HHI")       # a chained payload: algorithm, flags, length


def begins_smb(data: bytes) -> bool:
    """A session message holding an SMB message (any of the four protocol ids) starts here."""
    return len(data) >= 8 and data[0] == 0 and bytes(data[4:8]) in PROTOCOL_IDS


def _utf16(raw: bytes | memoryview) -> str:
    return bytes(raw).decode("utf-16-le", "replace")


class _Stream:
    """A large WRITE or READ response whose file bytes are handed on as they come."""

    __slots__ = ("key", "at", "data_left", "tail_left")

    def __init__(self, key: tuple[str, str], at: int, data_left: int, tail_left: int) -> None:
        self.key, self.at, self.data_left, self.tail_left = key, at, data_left, tail_left


class _Side:
    __slots__ = ("buf", "t", "raw", "stream")

    def __init__(self) -> None:
        self.buf = bytearray()     # session bytes not yet a whole message
        self.t = 0.0               # when the first of them came
        self.raw = False           # the framing broke: this side's bytes go to the raw parser
        self.stream: _Stream | None = None   # the message whose file bytes are coming


class SmbParser:
    """SMB 2/3 over direct TCP (445) or NetBIOS (139), both directions; files named, compression undone."""

    name: ClassVar[str] = "smb"
    ports: ClassVar[tuple[int, ...]] = SMB_PORTS

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return begins_smb(first_out) or begins_smb(first_in) or 139 in (sport, dport) and (
            first_out[:1] == b"\x81" and not first_in or first_in[:1] == b"\x81" and not first_out)

    @staticmethod
    def begins(data: bytes) -> bool:
        return begins_smb(data)

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        ctx.info.app = "smb"
        self.sides = {"out": _Side(), "in": _Side()}
        self.raw = RawParser(ctx)
        self.files = {d: Pieces(FILE_PIECE) for d in ("out", "in")}
        self.other = {d: Pieces(RAW_CHUNK) for d in ("out", "in")}
        # shares and files by (server, session, id), for every flow of the Dissector: SMB 3's
        # multichannel writes a file opened on one connection over others
        names = ctx.shared.setdefault(SHARED_NAMES, {"trees": OrderedDict(), "opened": OrderedDict()})
        self.trees: OrderedDict[tuple, str] = names["trees"]
        self.opened: OrderedDict[tuple, str] = names["opened"]
        self.server = ctx.info.dst if ctx.opener == "out" else ctx.info.src
        self.session = 0
        self.pending: OrderedDict[int, tuple] = OrderedDict()
        self.related = UNNAMED          # the file a compound's CREATE named, for the requests after it
        self.sealed_out = self.sealed_in = 0
        self.followed: OrderedDict[Any, tuple[StreamFollower, int]] = OrderedDict()   # file -> stream, next offset
        self.fed = {"out": 0, "in": 0}         # bytes of compressed messages, and what they expanded to
        self.made = {"out": 0, "in": 0}
        self.t_first: float | None = None
        self.t_last = 0.0
        self.out: Items = []

    # ---- parser interface ----

    def feed(self, direction: str, data: bytes, t: float) -> Items:
        side = self.sides[direction]
        if self.t_first is None:
            self.t_first = t
        self.t_last = max(self.t_last, t)
        if side.raw:
            return self.raw.feed(direction, data, t)
        if not side.buf:
            side.t = t
        side.buf += data
        self._frame(direction, side, t)
        return self._take()

    def gap(self, direction: str, size: int) -> Items:
        side = self.sides[direction]
        if not side.raw:
            self._to_raw(direction, side, self.t_last)
            self.ctx.error("smb: bytes missing from the capture; the rest of this side is scanned raw")
        return self._take() + self.raw.gap(direction, size)

    def idle(self, t: float) -> Items:
        self._flush()
        return self._take() + self.raw.idle(t)

    def close(self, t: float) -> Items:
        for direction, side in self.sides.items():
            if side.buf and not side.raw:      # a message cut short: what came is still scanned
                self._other(direction, side.buf, side.t)
                side.buf.clear()
        self._flush()
        out = self._take() + self.raw.close(t)
        for follower, _ in self.followed.values():
            follower.gap()
        self.followed.clear()
        if self.sealed_out or self.sealed_in:
            out.append(self.ctx.observation("encrypted", "info", self.t_first if self.t_first is not None else t,
                                            max(self.t_last, t), bytes_out=self.sealed_out, label=("smb3",),
                                            detail={"bytes_in": self.sealed_in, "decrypted": False}))
        return out

    # ---- framing ----

    def _frame(self, direction: str, side: _Side, t: float) -> None:
        buf = side.buf
        while buf:
            if side.stream is not None:
                self._streamed(direction, side, t)
                continue
            if len(buf) < 4:
                return
            kind, size = buf[0], int.from_bytes(buf[1:4], "big")
            if kind not in SESSION_TYPES:
                self.ctx.error("smb: a session packet of an unknown type; the rest of this side is scanned raw")
                self._to_raw(direction, side, t)
                return
            if len(buf) < 4 + size:
                if kind == 0x00 and size >= STREAM_MIN and self._stream(direction, side, size):
                    continue
                return
            message = bytes(buf[4: 4 + size])
            if kind == 0x00 and message:
                self._message(direction, message, side.t)
            elif message:
                self._other(direction, buf[: 4 + size], side.t)   # NetBIOS names of a session request
            del buf[: 4 + size]
            side.t = t

    def _stream(self, direction: str, side: _Side, size: int) -> bool:
        """Start handing on a large message's file bytes as they come, when it is a WRITE or a READ
        response alone in its frame whose head has come (a stalled writer holds nothing back)."""
        head = bytes(side.buf[4: 4 + HEADER + 48])       # the fields (its data may start later)
        if len(head) < HEADER + 16 or head[:4] != SMB2:
            return False
        _, _, _, status, command, _, flags, chained, mid = _HEAD.unpack_from(head)
        if chained or flags & FLAG_ASYNC and not flags & FLAG_RESPONSE:
            return False
        self.session = int.from_bytes(head[40:48], "little")
        carried = self._carried(command, bool(flags & FLAG_RESPONSE), status, mid, head[HEADER:])
        if carried is None:
            return False
        key, at, start, length = carried
        if not HEADER <= start <= size or len(side.buf) < 4 + start:
            return False
        if command == READ:
            del self.pending[mid]
        self._other(direction, side.buf[4: 4 + start], side.t)
        length = min(length, size - start)
        side.stream = _Stream(key, at, length, size - start - length)
        del side.buf[: 4 + start]
        return True

    def _streamed(self, direction: str, side: _Side, t: float) -> None:
        stream, buf = side.stream, side.buf
        if stream.data_left:
            take = min(len(buf), stream.data_left)
            self._hand_on(direction, self.files[direction].add(stream.key, stream.at, buf[:take], side.t))
            stream.at += take
            stream.data_left -= take
        else:
            take = min(len(buf), stream.tail_left)
            self._other(direction, buf[:take], side.t)
            stream.tail_left -= take
        del buf[:take]
        side.t = t
        if not stream.data_left and not stream.tail_left:
            side.stream = None

    def _to_raw(self, direction: str, side: _Side, t: float) -> None:
        side.raw = True
        side.stream = None
        self._flush()
        if side.buf:
            self.out += self.raw.feed(direction, bytes(side.buf), t)
            side.buf.clear()

    def _message(self, direction: str, message: bytes, t: float, expanded: bool = False) -> None:
        protocol = message[:4]
        if protocol == SMB2:
            self._smb2(direction, memoryview(message), t)
        elif protocol == COMPRESSED and not expanded:
            self._compressed(direction, message, t)
        else:
            if protocol == COMPRESSED and direction == "out":    # compressed twice: SMB never does
                self.out.append(self.ctx.blind("an SMB message compressed inside a compressed one", len(message), t))
            if protocol == SEALED:
                if direction == "out":
                    self.sealed_out += len(message)
                    self.ctx.info.sealed_out += len(message)
                else:
                    self.sealed_in += len(message)
                self.ctx.info.encrypted = True
                self.ctx.info.sealed = "smb3"
            self._other(direction, message, t)     # SMB 1, ciphertext, or not SMB: scanned as it is

    # ---- SMB 2 messages ----

    def _smb2(self, direction: str, message: memoryview, t: float) -> None:
        at = 0
        while at < len(message):
            if len(message) - at < HEADER or message[at: at + 4] != SMB2:
                self._other(direction, message[at:], t)
                return
            _, _, _, status, command, _, flags, chained, mid = _HEAD.unpack_from(message, at)
            end = at + chained if chained and chained % 8 == 0 and at + chained <= len(message) and chained >= HEADER \
                else len(message)
            if at == 0 and not flags & FLAG_RESPONSE:
                self.related = UNNAMED
            one = message[at:end]
            tree = None if flags & FLAG_ASYNC else int.from_bytes(one[36:40], "little")
            self.session = int.from_bytes(one[40:48], "little")
            data = self._command(command, bool(flags & FLAG_RESPONSE), status, mid, tree, one)
            if data is None:
                self._other(direction, one, t)
            else:
                name, offset, start, stop, verb = data
                self._other(direction, one[:start], t)
                self._hand_on(direction, self.files[direction].add((verb, name), offset, one[start:stop], t))
                self._other(direction, one[stop:], t)
            at = end

    def _command(self, command: int, response: bool, status: int, mid: int, tree: int | None,
                 one: memoryview) -> tuple[str, int, int, int, str] | None:
        """Keep what names files; for a message carrying file bytes: (name, file offset, where the bytes
        start and stop in the message, the verb)."""
        body = one[HEADER:]
        if not response:
            if command == TREE_CONNECT and len(body) >= 8:
                start, size = struct.unpack_from("<HH", body, 4)
                path = _utf16(one[start: start + size])
                self._pend(mid, ("tree", path))
                self._name_server(path)
            elif command == CREATE and len(body) >= 48:
                start, size = struct.unpack_from("<HH", body, 44)
                name = self._path(tree, _utf16(one[start: start + size]))
                self._pend(mid, ("create", name))
                self.related = name
            elif command == READ and len(body) >= 32:
                self._pend(mid, ("read", self._file(bytes(body[16:32])), int.from_bytes(body[8:16], "little")))
        carried = self._carried(command, response, status, mid, body)
        if response and status != STATUS_PENDING:
            asked = self.pending.pop(mid, None)
            if asked is not None and asked[0] == "tree" and status == 0 and tree is not None:
                self._remember(self.trees, (self.server, self.session, tree), asked[1])
            elif asked is not None and asked[0] == "create" and status == 0 and len(body) >= 80:
                self._remember(self.opened, (self.server, self.session, bytes(body[64:80])), asked[1])
        if carried is None:
            return None
        (verb, name), offset, start, size = carried
        stop = min(start + size, len(one))
        return (name, offset, start, stop, verb) if HEADER <= start < stop else None

    def _carried(self, command: int, response: bool, status: int, mid: int,
                 body: bytes | memoryview) -> tuple[tuple[str, str], int, int, int] | None:
        """Where a WRITE request's or a READ response's file bytes are: ((verb, file name), file
        offset, their offset in the message, their length); a READ response's name and offset are its
        request's (left in ``pending``)."""
        if command == WRITE and not response and len(body) >= 32:
            start, length, offset = struct.unpack_from("<HIQ", body, 2)
            return ("smb2 WRITE", self._file(bytes(body[16:32]))), offset, start, length
        if command == READ and response and status != STATUS_PENDING and len(body) >= 8:
            asked = self.pending.get(mid)
            if asked is not None and asked[0] == "read":
                return ("smb2 READ", asked[1]), asked[2], body[2], int.from_bytes(body[4:8], "little")
        return None

    def _pend(self, mid: int, what: tuple) -> None:
        self._remember(self.pending, mid, what)
        if len(self.pending) > MAX_PENDING:
            self.pending.popitem(last=False)

    @staticmethod
    def _remember(table: OrderedDict, key: Any, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        if len(table) > MAX_FILES:
            table.popitem(last=False)

    def _path(self, tree: int | None, name: str) -> str:
        share = self.trees.get((self.server, self.session, tree), "") if tree is not None else ""
        return f"{share}\\{name}" if share else name or "\\"

    def _file(self, file_id: bytes) -> str:
        if file_id == RELATED_FILE:
            return self.related
        return self.opened.get((self.server, self.session, file_id), UNNAMED)

    def _name_server(self, path: str) -> None:
        server = path.lstrip("\\").split("\\", 1)[0]
        if server:
            self.ctx.name_destination(server)
            self.ctx.named(server)

    # ---- compressed messages (MS-SMB2 2.2.42) ----

    def _compressed(self, direction: str, message: bytes, t: float) -> None:
        """Expand a compressed message within the flow's allowance (what a bomb of them may make is
        bounded as every decoder's output is: DEFAULT_LIMITS.ratio_allowance of what came compressed)
        and parse what it stands for; say what was not expanded."""
        if len(message) < _COMPRESSED.size:
            self._other(direction, message, t)
            return
        _, size, algorithm, flags, offset = _COMPRESSED.unpack_from(message)
        self.fed[direction] += len(message)
        allowance = max(0, DEFAULT_LIMITS.ratio_allowance(self.fed[direction]) - self.made[direction])
        room = min(size, MAX_EXPANDED, allowance)
        limited = room < min(size, MAX_EXPANDED)
        if flags & 1:
            expanded, unread, runs = self._chained(message, room)
        else:
            prefix = message[16: 16 + offset]
            made = msxca.decompress(algorithm, message[16 + offset:], room)
            if made is None or not made.whole and not made.data:
                expanded, unread = prefix, [msxca.name(algorithm)]
            else:
                expanded, unread = prefix + made.data, [] if made.whole else [msxca.name(algorithm)]
            runs = 0
        self.made[direction] += len(expanded) - runs
        if limited:         # said as the limit it is, not as a method the rig cannot read
            unread = [u for u in unread if u not in msxca.NAMES.values()]
            if direction == "out":
                hit = LimitHit(f"expansion ratio {DEFAULT_LIMITS.max_ratio}x", "smb compression", ("smb2",),
                               len(message))
                self.out.append(self.ctx.limit_observation(hit, t))
        elif size > MAX_EXPANDED:
            unread.append(f"past {MAX_EXPANDED >> 20} MiB")
        if direction == "out" and unread:
            self.out.append(self.ctx.blind(f"an SMB message compressed with {', '.join(unread)}",
                                           len(message), t))
        if unread or limited:
            self._other(direction, message, t)        # what was not expanded is scanned as it came
        if expanded:
            self._message(direction, expanded, t, expanded=True)

    @staticmethod
    def _chained(message: bytes, room: int) -> tuple[bytes, list[str], int]:
        """The payloads of a chained compressed message, one after another (MS-SMB2 2.2.42.2), what
        could not be expanded, and how many bytes were runs of one byte (Pattern_V1: no work to scan,
        not counted against the allowance)."""
        out = bytearray()
        unread: list[str] = []
        runs = 0
        at = 8
        while at + _CHAINED.size <= len(message) and len(out) < room:
            algorithm, _, length = _CHAINED.unpack_from(message, at)
            payload = message[at + _CHAINED.size: at + _CHAINED.size + length]
            at += _CHAINED.size + length
            size = room - len(out)
            if algorithm in (msxca.LZNT1, msxca.LZ77, msxca.LZ77_HUFFMAN, msxca.LZ4):
                if len(payload) < 4:
                    unread.append(msxca.name(algorithm))
                    break
                size = min(size, int.from_bytes(payload[:4], "little"))
                payload = payload[4:]
            made = msxca.decompress(algorithm, payload, size)
            if made is None or not made.whole:
                unread.append(msxca.name(algorithm))
            if made is None:
                break
            out += made.data
            runs += len(made.data) if algorithm == msxca.PATTERN_V1 else 0
        return bytes(out), unread, runs

    # ---- what is handed on ----

    def _other(self, direction: str, data: bytes | bytearray | memoryview, t: float) -> None:
        if len(data):
            pieces = self.other[direction]
            self._hand_on(direction, pieces.add(None, pieces.next, data, t))

    def _hand_on(self, direction: str, pieces: list[Piece]) -> None:
        for piece in pieces:
            if piece.key is None:
                self.out.append(self.ctx.payload(piece.data, "smb2", direction, piece.t_first, piece.t_last,
                                                 repeated=piece.repeated))
                continue
            verb, name = piece.key
            label = safe_text(f"{verb} {name}", MAX_LABEL_PATH)
            meta = {"filename": safe_text(name), "file_offset": piece.at}
            self.out.append(self.ctx.payload(piece.data, label, direction, piece.t_first, piece.t_last,
                                             repeated=piece.repeated, meta=meta))
            if direction == "out":
                self._follow(piece, label, meta)

    def _follow(self, piece: Piece, label: str, meta: dict) -> None:
        """A compressed file runs on past the piece it starts in: its stream followed (``follow``)."""
        new, at = piece.data[piece.repeated:], piece.at + piece.repeated
        follower, expected = self.followed.pop(piece.key, (None, 0))
        if follower is None:
            follower = StreamFollower(self.ctx.shared)
        elif expected != at and follower.inside:     # written out of order: a decoder cannot go on
            self.out.append(self.ctx.blind(f"the {follower.inside} stream of {label}, written out of order", len(new),
                                           piece.t_first))
            follower.gap()
        self._remember(self.followed, piece.key, (follower, at + len(new)))
        self.out += follower.follow(self.ctx, new, at, "out", (label,), piece.t_first, piece.t_last, meta)

    def _flush(self) -> None:
        for direction in ("out", "in"):
            self._hand_on(direction, self.files[direction].flush() + self.other[direction].flush())

    def _take(self) -> Items:
        out, self.out = self.out, []
        return out
