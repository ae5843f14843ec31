"""PostgreSQL's wire protocol (version 3): what an instrument writes to a LIMS database, a message at a time.

An instrument's software that loads its results into a LIMS's PostgreSQL with ``COPY ... FROM STDIN``
sends them as CopyData messages (psycopg cuts them at 32 kB), each behind a type byte and a length: a
gzip of reads behind 150 kB of noise in a bytea column, copied in the text format (hex) or the binary
one, replayed clean, the headers cutting the stream every message.  Now messages are framed (type,
length): the bodies of CopyData (``postgres COPY``), Bind (a prepared statement's parameters,
``postgres Bind``), Query and Parse (SQL text), FunctionCall and, coming the other way, DataRow are
messages, handed on as they are and read one after another by kind (``pieces.Messages``: a compressed
stream or a hex run followed across them), as are the client's other messages with a body (passwords,
Describe, Execute, types nobody defined: ``CLIENT_OTHERS``); every other byte (the startup message's
user and database, the headers, the server's answers) is scanned as a stream of its own (``postgres``).  A
connection that turns to TLS (``SSLRequest`` answered ``S``) is read raw from there: the rig cannot
open TLS that starts inside another protocol.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from sandbox.protocols.context import FlowContext
from sandbox.protocols.pieces import FramedParser, FramedSide, Message

PORTS = (5432,)
PROTOCOL_3 = 196608              # StartupMessage's protocol version 3.0
SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
STARTUP_CODES = frozenset((PROTOCOL_3, SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST))
MAX_STARTUP = 10_000             # the server's own limit on a startup packet
HEAD = 5                         # type byte and length
MAX_MESSAGE = 1 << 20            # a message that is not read as a body, longer than this, breaks the framing
# kinds of message whose bodies are data, by who sends them (the client's / the server's)
BODIES = {"client": {ord("d"): "COPY", ord("B"): "Bind", ord("Q"): "Query", ord("P"): "Parse", ord("F"): "FunctionCall"},
          "server": {ord("d"): "COPY out", ord("D"): "DataRow"}}
# The client's other messages: every one with a body is a message of its kind too (a password message, a
# portal's name, a type nobody defined: base64 of a gzip of reads in messages of an unknown type, or in
# password messages, replayed clean, each body cut from the next by its header in the stream of the rest)
CLIENT_OTHERS = {ord("p"): "Password", ord("D"): "Describe", ord("E"): "Execute", ord("C"): "Close",
                 ord("f"): "CopyFail"}
_INT32 = struct.Struct(">i")


def is_startup(data: bytes) -> bool:
    """``data`` starts with a startup packet (StartupMessage of 3.0, SSLRequest, GSSENCRequest, CancelRequest)."""
    if len(data) < 8:
        return False
    length, code = struct.unpack_from(">ii", data)
    return code in STARTUP_CODES and 8 <= length <= MAX_STARTUP


class _Side(FramedSide):
    __slots__ = ("role", "started")

    def __init__(self) -> None:
        super().__init__(HEAD)
        self.role = ""              # "client" or "server", from the startup packet
        self.started = False        # its startup packet (client) or first answer (server) came


class PostgresParser(FramedParser):
    """A PostgreSQL connection, either side the client: data-carrying messages by kind, the rest scanned."""

    name: ClassVar[str] = "postgres"
    ports: ClassVar[tuple[int, ...]] = PORTS
    HEAD_MIN: ClassVar[int] = HEAD

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return is_startup(first_out) or is_startup(first_in)

    @staticmethod
    def begins(data: bytes) -> bool:
        return is_startup(data)

    def __init__(self, ctx: FlowContext) -> None:
        super().__init__(ctx, {"out": _Side(), "in": _Side()})
        ctx.info.app = "postgres"
        self.asked_tls = False      # the client sent SSLRequest or GSSENCRequest: one byte answers it

    # ---- framing ----

    def _frame(self, direction: str, side: _Side, view: memoryview, at: int, t: float) -> int | None:
        buf = side.buf
        other = self.sides["in" if direction == "out" else "out"]
        if side.role != "server" and not side.started:   # a startup packet (no type byte) comes first
            if len(buf) - at < 8:
                side.need = 8
                return None
            if is_startup(bytes(buf[at: at + 8])):
                return self._startup(direction, side, other, view, at, t)
            side.started = True
        if not side.role:                   # seen mid-connection: the side that opened it is the client
            side.role = "client" if direction == self.ctx.client else "server"
        if side.role == "server" and self.asked_tls:    # one byte answers SSLRequest / GSSENCRequest
            self.asked_tls = False
            self._other(direction, bytes(view[at: at + 1]), t)
            if buf[at] in b"SG":                          # both ways: what comes is ciphertext
                reason = "the connection turned to TLS (or GSSAPI) encryption"
                if not other.raw:
                    self._to_raw("in" if direction == "out" else "out", other, f"postgres: {reason}", t)
                raise ValueError(reason)
            return at + 1
        if len(buf) - at < HEAD:
            side.need = HEAD
            return None
        kind = buf[at]
        length = _INT32.unpack_from(buf, at + 1)[0]
        if length < 4:
            raise ValueError(f"a message of type {kind:#04x} of length {length}")
        verb = BODIES[side.role].get(kind)
        if verb is None and side.role == "client":
            verb = CLIENT_OTHERS.get(kind) or f"type {kind:#04x}"
        if verb is not None and length > 4:
            self._other(direction, bytes(view[at: at + HEAD]), t)
            side.message = Message(verb, f"postgres {verb}", {"message": chr(kind)}, length - 4, t)
            return at + HEAD
        if length > MAX_MESSAGE:
            raise ValueError(f"a message of type {kind:#04x} of {length} bytes")
        if len(buf) - at < 1 + length:
            side.need = 1 + length
            return None
        self._other(direction, bytes(view[at: at + 1 + length]), t)
        return at + 1 + length

    def _startup(self, direction: str, side: _Side, other: _Side, view: memoryview, at: int, t: float) -> int | None:
        """The client's startup packet (no type byte): this side is the client."""
        length, code = struct.unpack_from(">ii", side.buf, at)
        if len(side.buf) - at < length:
            side.need = length
            return None
        side.role, other.role = "client", "server"
        self.asked_tls = code in (SSL_REQUEST, GSSENC_REQUEST)
        if self.asked_tls:
            other.need = 1                  # the answer is one byte
        side.started = code != SSL_REQUEST and code != GSSENC_REQUEST   # refused, a StartupMessage follows
        self._other(direction, bytes(view[at: at + length]), t)
        return at + length
