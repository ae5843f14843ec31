"""SSH (scp, sftp, rsync over ssh, tunnels): the software each side names, then encrypted volume.

An instrument or its control PC can push a run to a vendor with ``scp``; without this parser the flow
was raw bytes that matched nothing, so a large SFTP upload to an unlisted place replayed clean.  The
version banners (RFC 4253 4.2) and the key exchange travel in clear; after each side's NEWKEYS
message its bytes are ciphertext (a clear part SSH does not frame is judged by its first bytes instead),
counted as encrypted volume (``opaque.OpaqueParser``) and, like
every byte of the flow, still scanned raw.
"""

from __future__ import annotations

from typing import ClassVar

from sandbox.protocols.context import FlowContext
from sandbox.protocols.headvalues import HeadValues
from sandbox.protocols.opaque import Items, OpaqueParser, looks_encrypted
from sandbox.protocols.tls import PROBE_BYTES
from sandbox.safetext import safe_text

BANNERS = (b"SSH-2.0-", b"SSH-1.99-")
MAX_BANNER = 255          # RFC 4253 4.2: the identification line, CR LF included
MAX_PACKET = 35000        # RFC 4253 6.1: packets of 35000 bytes must be accepted; clear ones are smaller
MAX_CLEAR = 256 << 10     # clear bytes walked per side before NEWKEYS; past it the rest is only probed
MSG_KEXINIT, MSG_NEWKEYS = 20, 21


def begins_ssh(data: bytes) -> bool:
    return data.startswith(BANNERS)


class _Side:
    __slots__ = ("buf", "banner", "clear", "encrypted", "walked", "probe")

    def __init__(self) -> None:
        self.buf = bytearray()   # clear bytes not yet framed (the banner line, then packets)
        self.banner = False
        self.clear = True        # before NEWKEYS
        self.encrypted = False   # after NEWKEYS, or the probe said ciphertext
        self.walked = 0
        self.probe: bytearray | None = None   # the clear part went wrong: the first bytes after it, to judge


class SshParser(OpaqueParser):
    """SSH, both directions: banners in ``detail``, ciphertext after NEWKEYS counted."""

    name: ClassVar[str] = "ssh"
    ports: ClassVar[tuple[int, ...]] = (22,)

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return begins_ssh(first_out) or begins_ssh(first_in)

    @staticmethod
    def begins(data: bytes) -> bool:
        """SSH after a preamble (a proxy's CONNECT reply, a banner of lines before it: RFC 4253 4.2)."""
        return begins_ssh(data)

    def __init__(self, ctx: FlowContext) -> None:
        super().__init__(ctx)
        self.sides = {"out": _Side(), "in": _Side()}
        # the instrument's banners and key exchange cookies (16 bytes drawn at random), read across its
        # connections: a beacon that reconnects a piece at a time writes them (30 bytes of reads a
        # connection in the banner's comment replayed clean)
        self.values = HeadValues(ctx)

    def inspect(self, direction: str, data: bytes, t: float) -> Items:
        side = self.sides[direction]
        out: Items = []
        if side.clear:
            side.walked += len(data)
            side.buf += data
            rest = self._walk(direction, side, t, out)
            if rest is None:
                if side.walked < MAX_CLEAR:
                    return out
                rest = self._end_clear(side, newkeys=False)    # a clear part this long is not SSH's
            data = rest
        if side.probe is not None:                # judged once, on its first bytes, however they arrive
            side.probe += data
            if len(side.probe) < PROBE_BYTES:
                return out
            data, side.probe = bytes(side.probe), None
            side.encrypted = looks_encrypted(data, 0)
        if data and side.encrypted:
            self.sealed(direction, len(data))
        return out

    def _value(self, direction: str, name: str, value: bytes, t: float, out: Items) -> None:
        out += self.values.take("ssh", [(name, value)], direction, t)

    def idle(self, t: float) -> Items:
        return self.values.idle() + super().idle(t)

    def close(self, t: float) -> Items:
        return self.values.close() + super().close(t)

    def _walk(self, direction: str, side: _Side, t: float, out: Items) -> bytes | None:
        """Frame the clear part; the bytes after NEWKEYS (or after the clear part went wrong), or None
        while still in clear."""
        buf = side.buf
        while not side.banner:                    # lines before the banner are allowed (RFC 4253 4.2)
            end = buf.find(b"\n")
            if end < 0:
                return self._end_clear(side, newkeys=False) if len(buf) > MAX_BANNER else None
            line = bytes(buf[:end]).rstrip(b"\r")
            del buf[: end + 1]
            if line.startswith(b"SSH-"):
                side.banner = True
                self.detail["client" if direction == self.ctx.client else "server"] = safe_text(line[:MAX_BANNER])
                self._value(direction, "ssh banner", line, t, out)
        while len(buf) >= 6:
            length = int.from_bytes(buf[:4], "big")
            if length > MAX_PACKET or length < 2:
                return self._end_clear(side, newkeys=False)
            if len(buf) < 4 + length:
                return None
            msg = buf[5]
            if msg == MSG_KEXINIT:
                self._value(direction, "ssh key exchange cookie", bytes(buf[6:22]), t, out)
            del buf[: 4 + length]
            if msg == MSG_NEWKEYS:
                return self._end_clear(side, newkeys=True)
        return None

    @staticmethod
    def _end_clear(side: _Side, newkeys: bool) -> bytes:
        """The clear part is over: after NEWKEYS the rest is ciphertext; after bytes SSH does not
        frame that way, the first ``PROBE_BYTES`` of the rest decide.  Returns the rest."""
        side.clear = False
        side.encrypted = newkeys
        if not newkeys:
            side.probe = bytearray()
        rest = bytes(side.buf)
        side.buf.clear()
        return rest
