"""SMTP: envelope commands and message bodies (DATA and BDAT).

Mail is an easy way out for a run report or a sample sheet, usually as a base64 attachment.  Each
message becomes one Payload (``("tcp", "smtp DATA")``, dot-stuffing undone); its MIME structure
is split by the one multipart implementation the decoders share with HTTP uploads, so an
attachment reads ``("tcp", "smtp DATA", "multipart:file=samples.csv", "base64")`` as it would in
an HTTP upload.  Envelope arguments (``MAIL FROM``, ``RCPT TO``, ``HELO``) are small Payloads;
every command line the client sends, AUTH's too (the instrument's credentials are its own to fill),
goes on as sent (``smtp commands``) and its argument a line each (``smtp arguments``): lines of a verb
nobody knows had been dropped.  After ``STARTTLS`` is accepted the rest of
the connection is TLS and goes to the TLS metadata parser (SNI, volume), not content.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import CommandLines, FlowContext
from sandbox.protocols.tls import TlsParser

# RFC 5321 4.5.3.1.4/6: command lines 512 octets, text lines 1000; servers accept more (Postfix
# line_length_limit 2048) and bodies in the wild break the rule, so we allow 64 KiB before
# calling the side not SMTP.
MAX_LINE = 64 * 1024
# One message is one Payload; beyond this size (Postfix message_size_limit default is 10 MiB,
# Gmail 25 MiB; 64 MiB is generous) it is passed on in raw pieces.
MAX_MESSAGE = 64 * 1024 * 1024
# Raw pieces of an oversize message: bounded memory per flow.
RAW_PIECE = 1024 * 1024
SMTP_PORTS = (25, 465, 587, 2525)

_HELO = re.compile(rb"^(EHLO|HELO|LHLO) ", re.IGNORECASE)
_BDAT = re.compile(rb"^BDAT +(\d{1,12})( +LAST)? *$", re.IGNORECASE)
# Envelope commands whose argument is copied (addresses and names can identify people/sites).
ENVELOPE = {b"MAIL", b"RCPT", b"HELO", b"EHLO", b"LHLO", b"VRFY", b"EXPN", b"ETRN"}
_END = b"\r\n.\r\n"


def unstuff(body: bytes) -> bytes:
    """Undo RFC 5321 4.5.2 dot-stuffing (a leading '.' on a line was doubled by the client)."""
    body = body.replace(b"\r\n..", b"\r\n.")
    return body[1:] if body.startswith(b"..") else body


class SmtpParser:
    """SMTP/ESMTP/LMTP client and server sides (RFC 5321, 3030 CHUNKING, 3207 STARTTLS)."""

    name: ClassVar[str] = "smtp"
    ports: ClassVar[tuple[int, ...]] = SMTP_PORTS

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        # the instrument may be the client (out) or the server (in): look at both sides
        if _HELO.match(first_out) or _HELO.match(first_in):
            return True
        return ((dport in SMTP_PORTS and first_in.startswith(b"220") and not first_out)
                or (sport in SMTP_PORTS and first_out.startswith(b"220") and not first_in))

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.bufs = {"out": bytearray(), "in": bytearray()}
        self.mode = "command"          # client side: command | data | bdat
        self.body = bytearray()        # current message (DATA: still stuffed; BDAT: raw)
        self.body_t = 0.0
        self.body_kind = "DATA"
        self.bdat_left = 0
        self.bdat_last = False
        self.oversize = False
        self.outstanding = 0           # client lines still waiting for their reply (PIPELINING)
        self.starttls = False          # client asked, server has not answered yet
        self.tls: TlsParser | None = None
        self.auth = False              # inside an AUTH exchange: lines are credentials
        # every command line as sent (lines of an unknown verb, or a gzip sent to port 25 as "lines", had
        # been dropped: clean)
        self.lines = CommandLines(ctx, "smtp")
        ctx.info.app = "smtp"

    # ---- parser interface ----

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        if self.tls is not None:
            return self.tls.feed(direction, data, t)
        out: list[Payload | Observation] = []
        if direction == self.client:
            self._client(data, t, out)
        else:
            self._server(data, t, out)
        return out

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        if self.tls is not None:
            return self.tls.gap(direction, size)
        buf = self.bufs[direction]
        out: list[Payload | Observation] = []
        if buf and direction == self.client and self.mode == "command":   # partial line: pass it on
            self.lines.add(buf, self.body_t, out)
        if direction == self.client:
            self.lines.hand_on(self.body_t, out)
        buf.clear()
        if direction == self.client and self.mode != "command":
            self._flush_body(self.body_t, out, complete=False)
            self.mode = "command"
        return out

    def close(self, t: float) -> list[Payload | Observation]:
        if self.tls is not None:
            return self.tls.close(t)
        out: list[Payload | Observation] = []
        if self.mode != "command" and self.body:
            self._flush_body(t, out, complete=False)
        buf = self.bufs[self.client]
        if buf:   # bytes that never made a line (or a whole BDAT chunk) are still scanned
            self.lines.add(buf, t, out)
            buf.clear()
        self.lines.hand_on(t, out)
        return out

    def idle(self, t: float) -> list[Payload | Observation]:
        """The flow went quiet: the command lines held go on (a live finding does not wait for the end)."""
        if self.tls is not None:
            return self.tls.idle(t)
        out: list[Payload | Observation] = []
        self.lines.hand_on(t, out)
        return out

    # ---- client side ----

    def _client(self, data: bytes, t: float, out: list) -> None:
        buf = self.bufs[self.client]
        buf += data
        while buf:
            if self.mode == "data":
                if not self._data(buf, t, out):
                    return
            elif self.mode == "bdat":
                take = min(self.bdat_left, len(buf))
                self._append(bytes(buf[:take]), t, out)
                del buf[:take]
                self.bdat_left -= take
                if self.bdat_left:
                    return
                self.mode = "command"
                if self.bdat_last:
                    self._flush_body(t, out, complete=True)
            else:
                nl = buf.find(b"\n", 0, MAX_LINE + 1)
                if nl < 0:
                    if len(buf) > MAX_LINE:   # not SMTP: pass the bytes on in line-sized pieces
                        self.ctx.error("smtp: command line longer than MAX_LINE")
                        self.lines.add(bytes(buf[:MAX_LINE]), t, out)
                        del buf[:MAX_LINE]
                        continue
                    return
                raw = bytes(buf[:nl + 1])
                del buf[: nl + 1]
                self.lines.add(raw, t, out)
                self._command(raw[:-1].rstrip(b"\r"), t, out)
                if self.starttls:
                    return   # what follows is a TLS ClientHello once the server agrees

    def _data(self, buf: bytearray, t: float, out: list) -> bool:
        """Move DATA body bytes from ``buf``; True when the terminating dot was found.

        Bytes after the terminator (pipelined commands) are left in ``buf``.
        """
        start = len(self.body)
        self.body += buf
        buf.clear()
        if not self.oversize and self.body.startswith(b".\r\n"):   # empty message
            end, rest = 0, 3
        else:
            idx = self.body.find(_END, max(0, start - 4))   # the terminator may straddle feeds
            if idx < 0:
                self._spill(t, out)
                return False
            end, rest = idx + 2, idx + len(_END)       # the body keeps its last CRLF
        buf += self.body[rest:]
        del self.body[end:]
        self.mode = "command"
        self.outstanding += 1          # the end of the message gets its own reply (250 queued)
        self._flush_body(t, out, complete=True)
        return True

    def _command(self, line: bytes, t: float, out: list) -> None:
        self.outstanding += 1          # every client line (AUTH continuations too) gets one reply
        if self.auth:
            if line == b"*" or not line:
                self.auth = False
            return
        verb, _, arg = line.partition(b" ")
        verb = verb.upper()
        m = _BDAT.match(line)
        if m:
            self._start_body(t, "BDAT")
            self.mode = "bdat"
            self.bdat_left = int(m.group(1))
            self.bdat_last = bool(m.group(2))
            self.ctx.info.meta["smtp_chunking"] = True
            if not self.bdat_left and self.bdat_last:
                self.mode = "command"
                self._flush_body(t, out, complete=True)
            return
        if verb == b"DATA":
            self._start_body(t, "DATA")
            self.mode = "data"
        elif verb == b"STARTTLS":
            self.starttls = True
        elif verb == b"AUTH":
            # "AUTH PLAIN <b64>" is complete in one line; other mechanisms continue on next lines
            self.auth = len(arg.split()) < 2
        elif verb in ENVELOPE and arg:
            out.append(self.ctx.payload(arg, f"smtp {verb.decode()}", self.client, t,
                                        meta={"command": verb.decode()}))
            if verb in (b"HELO", b"EHLO", b"LHLO"):
                self.ctx.info.meta["smtp_helo"] = arg.decode("utf-8", "replace")[:200]

    # ---- server side ----

    def _server(self, data: bytes, t: float, out: list) -> None:
        buf = self.bufs[self.ctx.server]
        buf += data
        while True:
            nl = buf.find(b"\n", 0, MAX_LINE + 1)
            if nl < 0:
                if len(buf) > MAX_LINE:   # replies carry no upload data; drop what is not SMTP
                    self.ctx.error("smtp: reply line longer than MAX_LINE")
                    del buf[:MAX_LINE]
                    continue
                return
            line = bytes(buf[:nl])
            del buf[: nl + 1]
            code = line[:3]
            if line[3:4] == b"-":     # continuation of a multi-line reply
                continue
            if self.auth and code[:1] in (b"2", b"5"):
                self.auth = False
            self.outstanding = max(0, self.outstanding - 1)
            if self.outstanding:
                continue
            # the reply to the last client line (replies come in order, RFC 2920 3.1)
            if self.mode == "data" and not self.body and code != b"354":
                self.mode = "command"   # DATA refused: the client sends no message
            if self.starttls:
                self.starttls = False
                if code == b"220":
                    self._to_tls(t, out)
                    return

    def _to_tls(self, t: float, out: list) -> None:
        self.lines.hand_on(t, out)
        self.ctx.info.meta["smtp_starttls"] = True
        self.tls = TlsParser(self.ctx, label=("smtp STARTTLS",))
        self.ctx.info.app = "smtp"
        for direction, buf in self.bufs.items():   # bytes already past the switch are TLS
            if buf:
                out.extend(self.tls.feed(direction, bytes(buf), t))
                buf.clear()

    # ---- message bodies ----

    def _start_body(self, t: float, kind: str) -> None:
        if not self.body:
            self.body_t = t
            self.body_kind = kind
            self.oversize = False

    def _append(self, data: bytes, t: float, out: list) -> None:
        self.body += data
        self._spill(t, out)

    def _spill(self, t: float, out: list) -> None:
        """Past MAX_MESSAGE the message is passed on in pieces, each decoded on its own: memory stays
        bounded."""
        if len(self.body) > MAX_MESSAGE:
            self.oversize = True
        if not self.oversize:
            return
        while len(self.body) - 4 >= RAW_PIECE:   # keep 4 bytes: the start of a possible terminator
            piece = bytes(self.body[:RAW_PIECE])
            del self.body[:RAW_PIECE]
            out.append(self.ctx.payload(unstuff(piece) if self.body_kind == "DATA" else piece,
                                        f"smtp {self.body_kind}", self.client, self.body_t, t, meta={"oversize": True}))

    def _flush_body(self, t: float, out: list, complete: bool) -> None:
        raw = bytes(self.body)
        self.body.clear()
        label = f"smtp {self.body_kind}"
        if self.body_kind == "DATA":
            raw = unstuff(raw)
        meta: dict[str, object] = {"complete": complete}
        if self.oversize:
            meta["oversize"] = True
        if raw:
            out.append(self.ctx.payload(raw, label, self.client, self.body_t, t, meta=meta))
        self.oversize = False
