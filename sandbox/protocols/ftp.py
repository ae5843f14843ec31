"""FTP: control-connection commands and replies, and the data connections they announce.

The control parser turns each client command into a small Payload (file and user names leak
identifiers: ``STOR Sample_7_S7_L001_R1.fastq.gz``) and keeps the data-connection bookkeeping:
``PORT``/``EPRT`` (active) and ``227``/``229`` replies (passive) say which endpoint the next data
connection uses; ``STOR``/``STOU``/``APPE``/``RETR`` say which file it carries.  The link lives in
``ctx.shared["ftp.links"]`` keyed by the listening (ip, port), so the data flow's parser labels its
bytes ``("tcp", "ftp STOR reads.fastq")`` with ``meta["filename"]``.

A parser's ``detect`` sees only ports and first bytes, not the Dissector, so the control parser
also records the expected listening ports in a small module-level set; ``FtpDataParser`` claims a
flow on such a port (or from port 20, active mode) and confirms the exact endpoint in
``ctx.shared`` at construction; an unconfirmed flow's bytes are passed on unlabelled.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any, ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.tls import TlsParser, note_error

# RFC 959 sets no line limit; vsftpd and pyftpdlib cut commands at 4 KiB / 2 KiB.  Longer is not FTP.
MAX_LINE = 8192
# Pending data-connection links kept per Dissector: a client opens one data connection per
# transfer, so a few thousand outstanding links means something is wrong; oldest go first.
MAX_LINKS = 4096
# Expected listening ports remembered for detection (module-wide, see the module docstring).
MAX_EXPECTED_PORTS = 4096
# Bytes per data-connection Payload: same trade-off as the raw parser's chunks.
DATA_PIECE = 64 * 1024
FTP_DATA_PORT = 20   # active mode: the server connects from port 20 (RFC 959 3.2)

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

_expected_ports: OrderedDict[int, None] = OrderedDict()


def _expect_port(port: int) -> None:
    _expected_ports[port] = None
    _expected_ports.move_to_end(port)
    if len(_expected_ports) > MAX_EXPECTED_PORTS:
        _expected_ports.popitem(last=False)


def links(shared: dict[str, Any]) -> OrderedDict[tuple[str, int], dict[str, Any]]:
    table = shared.get("ftp.links")
    if table is None:
        table = shared["ftp.links"] = OrderedDict()
    return table


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
        if _FIRST_COMMAND.match(first_out) and (not first_in or first_in.startswith(b"220")):
            return True
        return dport == 21 and first_in.startswith(b"220")

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.bufs = {"out": bytearray(), "in": bytearray()}
        self.data_ep: tuple[str, int] | None = None    # listening endpoint of the next data connection
        self.user = ""
        self.tls: TlsParser | None = None   # set once AUTH TLS is accepted
        self.last_t = 0.0
        ctx.info.app = "ftp"

    def _client_ip(self) -> str:
        info = self.ctx.info
        return info.src if self.ctx.client == "out" else info.dst

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
                    note_error(self.ctx, "ftp: line longer than MAX_LINE")
                    out.append(self.ctx.payload(bytes(buf[:MAX_LINE]), "ftp", direction, t))
                    del buf[:MAX_LINE]
                    continue
                break
            line = bytes(buf[:nl]).rstrip(b"\r")
            del buf[: nl + 1]
            if direction == self.ctx.client:
                self._command(direction, line, t, out)
            else:
                self._reply(line, t)
            if self.tls is not None:   # bytes after the 234 reply are TLS
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
        buf.clear()
        return out

    def close(self, t: float) -> list[Payload | Observation]:
        buf = self.bufs[self.ctx.client]
        if self.tls is not None:
            return self.tls.close(t)
        if buf:   # a last command without its newline is still a command
            line = bytes(buf).rstrip(b"\r")
            buf.clear()
            out: list[Payload | Observation] = []
            self._command(self.ctx.client, line, t, out)
            return out
        return []

    def _command(self, direction: str, line: bytes, t: float, out: list) -> None:
        verb, _, arg = line.partition(b" ")
        verb = verb.upper()
        if verb not in COMMANDS:
            if line.strip():   # still a line the client sent: scan it
                note_error(self.ctx, f"ftp: unknown command {verb[:16]!r}")
                out.append(self.ctx.payload(line, "ftp ?", direction, t))
            return
        if verb == b"USER":
            self.user = arg.decode("utf-8", "replace")
            self.ctx.info.meta["ftp_user"] = self.user
        elif verb == b"PORT":
            self.data_ep = parse_port_arg(arg)
        elif verb == b"EPRT":
            self.data_ep = parse_eprt_arg(arg)
        elif verb == b"AUTH" and arg.upper().startswith((b"TLS", b"SSL")):
            self.ctx.info.meta["ftp_auth"] = arg.decode("ascii", "replace")
        elif verb in TRANSFER_DIRECTION:
            self._link(verb, arg)
        if verb in (b"PORT", b"EPRT") and self.data_ep:
            _expect_port(self.data_ep[1])
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
                self.data_ep = (self._server_ip(), ep[1])
        elif code == b"229":
            m = _EPSV.search(line)
            if m:
                self.data_ep = (self._server_ip(), int(m.group(2)))
        elif code == b"234":
            # AUTH TLS accepted: the control channel is TLS from here on (SNI, volume only)
            self.tls = TlsParser(self.ctx, label=("ftp AUTH TLS",))
            self.ctx.info.app = "ftp"
            return
        else:
            return
        if self.data_ep:
            _expect_port(self.data_ep[1])
            self._link(None, b"")

    def _link(self, verb: bytes | None, arg: bytes) -> None:
        if self.data_ep is None:
            return
        table = links(self.ctx.shared)
        entry = table.get(self.data_ep)
        if entry is None or verb is None:
            entry = {"control": self.ctx.flow, "user": self.user, "command": "", "filename": ""}
            table[self.data_ep] = entry
            table.move_to_end(self.data_ep)
            if len(table) > MAX_LINKS:
                table.popitem(last=False)
        if verb is not None:
            entry["command"] = verb.decode()
            entry["filename"] = arg.decode("utf-8", "replace")
            entry["transfer"] = TRANSFER_DIRECTION[verb]


class FtpDataParser:
    """An FTP data connection announced by a control connection: bytes labelled with the file."""

    name: ClassVar[str] = "ftp-data"

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return dport in _expected_ports or sport == FTP_DATA_PORT

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        info = ctx.info
        table = links(ctx.shared)
        self.entry = table.get((info.dst, info.dport)) or table.get((info.src, info.sport))
        if self.entry is not None:   # else a port coincidence: pass the bytes on unlabelled
            info.app = "ftp-data"
            info.meta["ftp_control"] = self.entry["control"]
        elif not info.app:
            info.app = "raw"
        self.offsets = {"out": 0, "in": 0}
        self.pending = {"out": bytearray(), "in": bytearray()}
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
        return out

    def close(self, t: float) -> list[Payload | Observation]:
        out: list[Payload | Observation] = []
        for direction in ("out", "in"):
            self._emit(direction, len(self.pending[direction]), out)
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
        self.offsets[direction] += size
        self.times[direction] = [t1, t1]
