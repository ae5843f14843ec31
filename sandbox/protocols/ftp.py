"""FTP: control-connection commands and replies, and the data connections they announce.

The control parser turns each client command into a small Payload (file and user names leak
identifiers: ``STOR Sample_7_S7_L001_R1.fastq.gz``) and keeps the data-connection bookkeeping:
``PORT``/``EPRT`` (active) and ``227``/``229`` replies (passive) say which endpoint the next data
connection uses; ``STOR``/``STOU``/``APPE``/``RETR`` say which file it carries.  The control
parser claims that listening (ip, port) for ``FtpDataParser`` (``ctx.claim``); the Dissector
hands the next flow on it to that parser with the link (``ctx.claimed``), which the control
parser keeps filling in, so the data flow's bytes are labelled ``("tcp", "ftp STOR reads.fastq")``
with ``meta["filename"]``.  All state lives in the Dissector: two Dissectors never mix links.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import CommandLines, FlowContext
from sandbox.protocols.follow import StreamFollower
from sandbox.protocols.tls import TlsParser

# RFC 959 sets no line limit; vsftpd and pyftpdlib cut commands at 4 KiB / 2 KiB.  Longer is not FTP.
MAX_LINE = 8192
# Bytes per data-connection Payload: same trade-off as the raw parser's chunks.
DATA_PIECE = 64 * 1024

COMMANDS = {b"USER", b"PASS", b"ACCT", b"CWD", b"CDUP", b"SMNT", b"QUIT", b"REIN", b"PORT", b"PASV",
            b"TYPE", b"STRU", b"MODE", b"RETR", b"STOR", b"STOU", b"APPE", b"ALLO", b"REST", b"RNFR",
            b"RNTO", b"ABOR", b"DELE", b"RMD", b"MKD", b"PWD", b"LIST", b"NLST", b"SITE", b"SYST",
            b"STAT", b"HELP", b"NOOP", b"FEAT", b"OPTS", b"AUTH", b"PBSZ", b"PROT", b"EPRT", b"EPSV",
            b"MDTM", b"SIZE", b"MLSD", b"MLST", b"CCC", b"LANG", b"XMKD", b"XRMD", b"XPWD", b"XCWD"}
# Commands whose argument is a secret, not data: never copied into a Payload.
SECRET_COMMANDS = {b"PASS", b"ACCT"}
TRANSFER_DIRECTION = {b"STOR": "upload", b"STOU": "upload", b"APPE": "upload", b"RETR": "download",
                      b"LIST": "download", b"NLST": "download", b"MLSD": "download"}

_FIRST_COMMAND = re.compile(rb"^(USER|AUTH|FEAT|SYST|OPTS|HOST|CLNT) ", re.IGNORECASE)
_PASV = re.compile(rb"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_EPSV = re.compile(rb"\(([\x21-\x7e])\1\1(\d{1,5})\1\)")

def parse_port_arg(arg: bytes) -> tuple[str, int] | None:
    """``h1,h2,h3,h4,p1,p2`` (PORT argument and 227 reply text) -> (ip, port)."""
    m = _PASV.search(arg)
    if not m:
        return None
    h = [int(x) for x in m.groups()]
    if max(h) > 255:
        return None
    return ".".join(map(str, h[:4])), h[4] * 256 + h[5]


def parse_eprt_arg(arg: bytes) -> tuple[str, int] | None:
    """``|1|132.235.1.2|6275|`` (RFC 2428) -> (ip, port)."""
    if len(arg) < 5:
        return None
    parts = arg.split(arg[:1])
    if len(parts) < 5 or not parts[3].isdigit():
        return None
    return parts[2].decode("ascii", "replace"), int(parts[3])


class FtpParser:
    """FTP control connection (RFC 959, 2428)."""

    name: ClassVar[str] = "ftp"
    ports: ClassVar[tuple[int, ...]] = (21,)

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        # the instrument may be the client (out) or the server (in): look at both sides
        for client, server, server_port in ((first_out, first_in, dport), (first_in, first_out, sport)):
            if _FIRST_COMMAND.match(client) and (not server or server.startswith(b"220")):
                return True
            if server_port == 21 and server.startswith(b"220"):
                return True
        return False

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.bufs = {"out": bytearray(), "in": bytearray()}
        self.data_ep: tuple[str, int] | None = None    # listening endpoint of the next data connection
        self.entry: dict[str, Any] | None = None        # its link, shared with its FtpDataParser
        self.user = ""
        self.tls: TlsParser | None = None   # set once AUTH TLS is accepted
        self.last_t = 0.0
        # every command line as sent (a line each was read alone: base64 of a gzip of reads a SITE or
        # unknown command at a time, or in PASS lines, replayed clean)
        self.lines = CommandLines(ctx, "ftp")
        ctx.info.app = "ftp"

    def _server_ip(self) -> str:
        info = self.ctx.info
        return info.dst if self.ctx.client == "out" else info.src

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        self.last_t = t
        if self.tls is not None:
            return self.tls.feed(direction, data, t)
        buf = self.bufs[direction]
        buf += data
        out: list[Payload | Observation] = []
        while True:
            nl = buf.find(b"\n", 0, MAX_LINE + 1)
            if nl < 0:
                if len(buf) > MAX_LINE:   # not FTP: pass the bytes on, in line-sized pieces
                    self.ctx.error("ftp: line longer than MAX_LINE")
                    out.append(self.ctx.payload(bytes(buf[:MAX_LINE]), "ftp", direction, t))
                    del buf[:MAX_LINE]
                    continue
                break
            raw = bytes(buf[:nl + 1])
            line = raw[:-1].rstrip(b"\r")
            del buf[: nl + 1]
            if direction == self.ctx.client:
                self.lines.add(raw, t, out)
                self._command(direction, line, t, out)
            else:
                self._reply(line, t)
            if self.tls is not None:   # bytes after the 234 reply are TLS
                self.lines.hand_on(t, out)
                for side, rest in self.bufs.items():
                    if rest:
                        out.extend(self.tls.feed(side, bytes(rest), t))
                        rest.clear()
                break
        return out

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        buf = self.bufs[direction]     # a partial line before a hole: pass it on, resume after
        out: list[Payload | Observation] = []
        if self.tls is not None:
            return self.tls.gap(direction, size)
        if buf and direction == self.ctx.client:
            out.append(self.ctx.payload(bytes(buf), "ftp", direction, self.last_t))
            self.lines.add(buf, self.last_t, out)
        if direction == self.ctx.client:
            self.lines.hand_on(self.last_t, out)
        buf.clear()
        return out

    def idle(self, t: float) -> list[Payload | Observation]:
        """The flow went quiet: the command lines held go on."""
        if self.tls is not None:
            return self.tls.idle(t)
        out: list[Payload | Observation] = []
        self.lines.hand_on(t, out)
        return out

    def close(self, t: float) -> list[Payload | Observation]:
        buf = self.bufs[self.ctx.client]
        if self.tls is not None:
            return self.tls.close(t)
        out: list[Payload | Observation] = []
        if buf:   # a last command without its newline is still a command
            line = bytes(buf).rstrip(b"\r")
            self.lines.add(buf, t, out)
            buf.clear()
            self._command(self.ctx.client, line, t, out)
        self.lines.hand_on(t, out)
        return out

    def _command(self, direction: str, line: bytes, t: float, out: list) -> None:
        verb, _, arg = line.partition(b" ")
        verb = verb.upper()
        if verb not in COMMANDS:
            if line.strip():   # still a line the client sent: scan it
                self.ctx.error(f"ftp: unknown command {verb[:16]!r}")
                out.append(self.ctx.payload(line, "ftp ?", direction, t))
            return
        if verb == b"USER":
            self.user = arg.decode("utf-8", "replace")
            self.ctx.info.meta["ftp_user"] = self.user
        elif verb in (b"PORT", b"EPRT"):
            ep = parse_port_arg(arg) if verb == b"PORT" else parse_eprt_arg(arg)
            if ep:
                self._announce(ep)
        elif verb == b"AUTH" and arg.upper().startswith((b"TLS", b"SSL")):
            self.ctx.info.meta["ftp_auth"] = arg.decode("ascii", "replace")
        elif verb in TRANSFER_DIRECTION:
            self._transfer(verb, arg)
        if arg and verb not in SECRET_COMMANDS:
            meta = {"command": verb.decode()}
            if verb in TRANSFER_DIRECTION:
                meta["filename"] = arg.decode("utf-8", "replace")
            out.append(self.ctx.payload(arg, f"ftp {verb.decode()}", direction, t, meta=meta))

    def _reply(self, line: bytes, t: float) -> None:
        code = line[:3]
        if code == b"227":
            ep = parse_port_arg(line[4:])
            if ep:
                # a NAT-ed server may announce a private address: the real one is the control peer
                self._announce((self._server_ip(), ep[1]))
        elif code == b"229":
            m = _EPSV.search(line)
            if m:
                self._announce((self._server_ip(), int(m.group(2))))
        elif code == b"234":
            # AUTH TLS accepted: the control channel is TLS from here on (SNI, volume only)
            self.tls = TlsParser(self.ctx, label=("ftp AUTH TLS",))
            self.ctx.info.app = "ftp"

    def _announce(self, ep: tuple[str, int]) -> None:
        """A data connection to ``ep`` is coming: claim it with a fresh link."""
        self.data_ep = ep
        self.entry = {"control": self.ctx.flow, "user": self.user, "command": "", "filename": ""}
        self.ctx.claim(ep, FtpDataParser, self.entry)

    def _transfer(self, verb: bytes, arg: bytes) -> None:
        """Name the file of the announced data connection (it may already be open: passive)."""
        if self.data_ep is None:
            return
        if self.entry is None or self.entry["command"]:   # a second transfer on the same endpoint
            self._announce(self.data_ep)
        assert self.entry is not None
        self.entry["command"] = verb.decode()
        self.entry["filename"] = arg.decode("utf-8", "replace")
        self.entry["transfer"] = TRANSFER_DIRECTION[verb]


class FtpDataParser:
    """An FTP data connection announced by a control connection: bytes labelled with the file."""

    name: ClassVar[str] = "ftp-data"

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        """Never from bytes or ports: data connections are chosen by the control parser's claim."""
        return False

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        info = ctx.info
        claimed = ctx.claimed
        self.entry: dict[str, Any] | None = claimed if isinstance(claimed, dict) else None
        if self.entry is not None:   # else built without a claim: pass the bytes on unlabelled
            info.app = "ftp-data"
            info.meta["ftp_control"] = self.entry["control"]
        elif not info.app:
            info.app = "raw"
        self.offsets = {"out": 0, "in": 0}
        self.pending = {"out": bytearray(), "in": bytearray()}
        self.followers = {"out": StreamFollower(ctx.shared), "in": StreamFollower(ctx.shared)}
        self.times: dict[str, list[float]] = {"out": [], "in": []}

    @property
    def label(self) -> tuple[str, ...]:
        if self.entry is None:
            return ()
        cmd = self.entry["command"] or "data"
        return (f"ftp {cmd} {self.entry['filename']}".rstrip(),)

    def feed(self, direction: str, data: bytes, t: float) -> list[Payload | Observation]:
        buf = self.pending[direction]
        if not buf:
            self.times[direction] = [t, t]
        self.times[direction][1] = t
        buf += data
        out: list[Payload | Observation] = []
        while len(buf) >= DATA_PIECE:
            self._emit(direction, DATA_PIECE, out)
        return out

    def gap(self, direction: str, size: int) -> list[Payload | Observation]:
        out: list[Payload | Observation] = []
        self._emit(direction, len(self.pending[direction]), out)
        self.offsets[direction] += size
        self.followers[direction].gap()
        return out

    def close(self, t: float) -> list[Payload | Observation]:
        out: list[Payload | Observation] = []
        for direction in ("out", "in"):
            self._emit(direction, len(self.pending[direction]), out)
            self.followers[direction].gap()
        return out

    def _emit(self, direction: str, size: int, out: list) -> None:
        buf = self.pending[direction]
        if not size:
            return
        piece = bytes(buf[:size])
        del buf[:size]
        t0, t1 = self.times[direction]
        meta: dict[str, Any] = {}
        if self.entry is not None:
            self.ctx.info.meta["filename"] = self.entry["filename"]
            meta = {"filename": self.entry["filename"], "command": self.entry["command"],
                    "transfer": self.entry.get("transfer", ""), "control": self.entry["control"]}
        out.append(self.ctx.payload(piece, self.label, direction, t0, t1,
                                    stream_offset=self.offsets[direction], meta=meta))
        out += self.followers[direction].follow(self.ctx, piece, self.offsets[direction], direction,   # MODE Z
                                                self.label, t0, t1, meta)
        self.offsets[direction] += size
        self.times[direction] = [t1, t1]
