"""pcapng files: sections, interfaces with their own link types and timestamp resolutions,
Enhanced / Simple / obsolete Packet Blocks, and Decryption Secrets Blocks (TLS key logs).

Block layouts as data (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html).
Unknown block types are skipped by their length, as the spec asks.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import ClassVar

from sandbox.captures.errors import CaptureError
from sandbox.captures.packet import MAX_RECORD, RawPacket
from sandbox.captures.source import Chunks

SHB = 0x0A0D0D0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
IDB, OPB, SPB, ISB, EPB, DSB = 0x00000001, 0x00000002, 0x00000003, 0x00000005, 0x00000006, 0x0000000A
TLS_KEYLOG = 0x544C534B       # secrets type "TLSK": NSS key log lines
OPT_ENDOFOPT, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 0, 9, 14
OPT_IF_NAME, OPT_IF_DESCRIPTION, OPT_IF_SPEED = 2, 3, 8
# Characters kept of an interface's name or description: a device path or a line's settings are
# far shorter; the writer (possibly the instrument's own tool) is not trusted to be brief.
MAX_IF_TEXT = 256
# Interface Statistics Block options that count packets the capture lost (interface, OS buffer).
OPT_ISB_IFDROP, OPT_ISB_OSDROP = 5, 7
# Block body layouts after the 8-byte (type, total length) head.
BODY = {
    IDB: "HHI",        # linktype, reserved, snaplen
    EPB: "IIIII",      # interface id, ts high, ts low, captured len, original len
    OPB: "HHIIII",     # interface id, drops, ts high, ts low, captured len, original len
    SPB: "I",          # original len
    DSB: "II",         # secrets type, secrets length
}
SHB_BYTES = struct.pack("<I", SHB)     # a palindrome: the same in either byte order
# Per byte order, compiled once: the block head and the EPB body are read for every packet.
HEAD = {e: struct.Struct(e + "II") for e in "<>"}
EPB_BODY = {e: struct.Struct(e + BODY[EPB]) for e in "<>"}
# Bytes of TLS key log kept from Decryption Secrets Blocks: a key log line is ~180 bytes,
# so this is tens of thousands of sessions; more is a corrupt or hostile file.
MAX_SECRETS = 16 << 20


class _Interface:
    """One Interface Description Block; link modules that care (a serial line named after its
    port) get it with each packet: ``index`` in its section, ``name``, ``description``, ``speed``."""

    __slots__ = ("linktype", "snaplen", "scale", "offset", "index", "name", "description", "speed")

    def __init__(self, linktype: int, snaplen: int, index: int = 0) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.scale = 1e-6     # default if_tsresol: microseconds
        self.offset = 0
        self.index = index
        self.name = ""
        self.description = ""
        self.speed = 0        # bits per second (if_speed), 0 when not said


def _text(value: bytes) -> str:
    """An interface string made safe once: UTF-8 (errors replaced), printable, bounded."""
    text = bytes(value[:MAX_IF_TEXT * 4]).decode("utf-8", "replace")
    return "".join(c if c.isprintable() else " " for c in text)[:MAX_IF_TEXT].strip()


class PcapngReader:
    name: ClassVar[str] = "pcapng"

    @staticmethod
    def claim(head: bytes) -> bool:
        return len(head) >= 4 and struct.unpack_from("<I", head)[0] == SHB

    def __init__(self, chunks: Chunks) -> None:
        self.chunks = chunks
        self.errors: list[str] = []
        self.stopped_at: int | None = None   # stream offset where damage ended the reading
        self.bad_blocks = 0                  # packet blocks skipped as corrupt (the file went on)
        self.bad_bytes = 0
        self.secrets = bytearray()
        self.secrets_cut = False
        self.interfaces: list[_Interface] = []
        self.endian = "<"
        # Packets lost before they reached the file, per (section, interface): the newest
        # Interface Statistics Block's counts (they are cumulative).
        self.drops: dict[tuple[int, int], int] = {}
        self._section = 0
        if not chunks.need(12):
            raise CaptureError("pcapng section header truncated (under 12 bytes)")
        magic = chunks.buf[chunks.pos + 8:chunks.pos + 12]
        if magic not in (struct.pack("<I", BYTE_ORDER_MAGIC), struct.pack(">I", BYTE_ORDER_MAGIC)):
            raise CaptureError("pcapng section header has no byte-order magic: not a pcapng file")

    def packets(self) -> Iterator[RawPacket]:
        c = self.chunks
        frame = 0
        while True:
            if len(c.buf) - c.pos < 12 and not c.need(12):   # need() only when the window runs out
                if not c.eof and not c.error:
                    yield None      # a live recording: the writer has not got this far yet
                    continue
                if c.remaining or c.error:
                    self._damage(frame + 1, "block header")
                return
            start = c.pos
            if c.buf[start:start + 4] == SHB_BYTES:
                self.endian = "<" if c.buf[start + 8:start + 12] == struct.pack("<I", BYTE_ORDER_MAGIC) else ">"
                if c.buf[start + 8:start + 12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    self.errors.append(f"corrupt section header at byte {c.offset} (frame {frame + 1})")
                    self.stopped_at = c.offset
                    return
                self.interfaces = []          # interface ids are per section
                self._section += 1
            e = self.endian
            btype, blen = HEAD[e].unpack_from(c.buf, start)
            if blen < 12 or blen % 4 or blen > MAX_RECORD:
                self.errors.append(f"corrupt block header at byte {c.offset} (frame {frame + 1}): "
                                   f"block length {blen}")
                self.stopped_at = c.offset
                return
            if len(c.buf) - c.pos < blen and not c.need(blen):
                if not c.eof and not c.error:
                    yield None      # the block is still being written
                    continue
                self._damage(frame + 1, f"block 0x{btype:x}")
                return
            start = c.pos
            body = start + 8
            end = start + blen - 4
            buf = c.buf
            c.pos = start + blen
            if btype in (EPB, OPB, SPB):
                frame += 1           # a damaged packet block still takes its frame number
                pkt = self._packet(btype, buf, body, end, frame)
                if pkt is not None:
                    yield pkt
            elif btype == IDB:
                if end - body < 8:
                    self.errors.append(f"corrupt interface block at byte {c.base + start}")
                    self.stopped_at = c.base + start
                    return
                linktype, _, snaplen = struct.unpack_from(e + BODY[IDB], buf, body)
                iface = _Interface(linktype, snaplen, len(self.interfaces))
                self._options(iface, buf, body + 8, end)
                self.interfaces.append(iface)
            elif btype == ISB and end - body >= 12:
                iid = struct.unpack_from(e + "I", buf, body)[0]
                lost = self._isb_drops(buf, body + 12, end)
                if lost is not None:
                    self.drops[self._section, iid] = lost
            elif btype == DSB and end - body >= 8:
                stype, slen = struct.unpack_from(e + BODY[DSB], buf, body)
                if stype == TLS_KEYLOG and len(self.secrets) + slen <= MAX_SECRETS:
                    secret = bytes(buf[body + 8:min(body + 8 + slen, end)])
                    self.secrets += secret if secret.endswith(b"\n") else secret + b"\n"
                elif stype == TLS_KEYLOG and not self.secrets_cut:
                    self.secrets_cut = True       # said once: the TLS those keys open stays unread
                    self.errors.append(f"TLS key log in the capture beyond {MAX_SECRETS >> 20} MB: the rest "
                                       f"not read (give it with --tls-keylog)")

    def _packet(self, btype: int, buf: bytes, body: int, end: int, frame: int) -> RawPacket | None:
        e = self.endian
        if btype == EPB:
            if end - body < 20:
                return self._bad(frame, "enhanced packet block too short", end - body)
            iid, hi, lo, caplen, orig = EPB_BODY[e].unpack_from(buf, body)
            data_at = body + 20
        elif btype == OPB:
            if end - body < 20:
                return self._bad(frame, "packet block too short", end - body)
            iid, _, hi, lo, caplen, orig = struct.unpack_from(e + BODY[OPB], buf, body)
            data_at = body + 20
        else:
            iid, hi, lo = 0, None, 0
            orig = struct.unpack_from(e + BODY[SPB], buf, body)[0]
            data_at = body + 4
            caplen = min(orig, end - data_at)
        if iid >= len(self.interfaces):
            return self._bad(frame, f"packet names interface {iid}, which no interface block declared", end - body)
        iface = self.interfaces[iid]
        if btype == SPB and iface.snaplen:
            caplen = min(caplen, iface.snaplen)
        if data_at + caplen > end:
            return self._bad(frame, f"captured length {caplen} runs past its block", end - body)
        t = 0.0 if hi is None else ((hi << 32) | lo) * iface.scale + iface.offset
        return RawPacket(frame, t, iface.linktype, buf[data_at:data_at + caplen], orig, iid)

    def _bad(self, frame: int, why: str, size: int) -> None:
        # the block length was sane, so the file goes on past this one packet
        self.errors.append(f"corrupt packet block before byte {self.chunks.offset} (frame {frame}): {why}")
        self.bad_blocks += 1
        self.bad_bytes += size
        return None

    def _options(self, iface: _Interface, buf: bytes, pos: int, end: int) -> None:
        e = self.endian
        while pos + 4 <= end:
            code, length = struct.unpack_from(e + "HH", buf, pos)
            value = buf[pos + 4:min(pos + 4 + length, end)]
            if code == OPT_ENDOFOPT:
                break
            if code == OPT_IF_TSRESOL and length >= 1:
                v = value[0]
                iface.scale = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
            elif code == OPT_IF_TSOFFSET and length >= 8:
                iface.offset = struct.unpack_from(e + "q", value)[0]
            elif code == OPT_IF_NAME:
                iface.name = _text(value)
            elif code == OPT_IF_DESCRIPTION:
                iface.description = _text(value)
            elif code == OPT_IF_SPEED and length == 8:
                iface.speed = struct.unpack_from(e + "Q", value)[0]
            pos += 4 + ((length + 3) & ~3)

    def _isb_drops(self, buf: bytes, pos: int, end: int) -> int | None:
        """isb_ifdrop + isb_osdrop of one Interface Statistics Block (None if it has neither)."""
        e = self.endian
        lost = None
        while pos + 4 <= end:
            code, length = struct.unpack_from(e + "HH", buf, pos)
            if code == OPT_ENDOFOPT:
                break
            if code in (OPT_ISB_IFDROP, OPT_ISB_OSDROP) and length == 8 and pos + 12 <= end:
                lost = (lost or 0) + struct.unpack_from(e + "Q", buf, pos + 4)[0]
            pos += 4 + ((length + 3) & ~3)
        return lost

    def _damage(self, frame: int, what: str) -> None:
        c = self.chunks
        why = f" ({c.error})" if c.error else ""
        self.errors.append(f"truncated at byte {c.offset} (frame {frame}): {what} cut short{why}")
        self.stopped_at = c.offset


def scan_secrets(path) -> bytes:
    """TLS key log lines from every Decryption Secrets Block, skipping other blocks by seeking.

    Lets a caller get the secrets before it streams the packets (decryption runs first).
    """
    from sandbox.captures.source import STREAM_ERRORS, open_source

    stream, raw, _ = open_source(path)
    out = bytearray()
    endian = "<"
    try:
        while len(out) < MAX_SECRETS:
            head = stream.read(12)
            if len(head) < 12:
                break
            if struct.unpack_from("<I", head)[0] == SHB:
                endian = "<" if head[8:12] == struct.pack("<I", BYTE_ORDER_MAGIC) else ">"
            btype, blen = struct.unpack_from(endian + "II", head)
            if blen < 12 or blen % 4 or blen > MAX_RECORD:
                break
            if btype != DSB:
                stream.seek(blen - 12, 1)
                continue
            body = head[8:] + stream.read(blen - 12)
            stype, slen = struct.unpack_from(endian + "II", body)
            if stype == TLS_KEYLOG:
                secret = body[8:8 + slen]
                out += secret if secret.endswith(b"\n") else secret + b"\n"
    except (*STREAM_ERRORS, struct.error):
        pass
    finally:
        raw.close()
    return bytes(out)


COPY_CHUNK = 1 << 20
DSB_LINES = 1 << 20     # key log bytes per Decryption Secrets Block (whole lines), far below MAX_RECORD


def dsb(secrets: bytes, endian: str = "<") -> bytes:
    """Decryption Secrets Blocks holding a TLS key log, whole lines, at most about DSB_LINES bytes each."""
    out = []
    start = 0
    while start < len(secrets):
        cut = secrets.rfind(b"\n", start, start + DSB_LINES) + 1
        end = cut if cut > start and start + DSB_LINES < len(secrets) else min(len(secrets), start + DSB_LINES)
        piece = secrets[start:end]
        pad = -len(piece) % 4
        length = 20 + len(piece) + pad
        out.append(struct.pack(endian + "IIII", DSB, length, TLS_KEYLOG, len(piece)) + piece + bytes(pad)
                   + struct.pack(endian + "I", length))
        start = end
    return b"".join(out)


def inject_secrets(src, dst, secrets: bytes) -> None:
    """Copy a pcapng from ``src`` to ``dst`` (binary file objects) with ``secrets`` (a TLS key log) in
    Decryption Secrets Blocks after each Section Header Block, so a reader has the keys before the
    packets; every other block is copied byte for byte.

    ``editcap --inject-secrets`` (Wireshark 4.0) drops the Interface Statistics Blocks, and with them
    the drops the capture counted: a replay of its output would say nothing was lost.  A damaged
    tail (a block whose length cannot be) is copied as it is, for the reader to report.  Raises
    ValueError when ``src`` is not a pcapng.
    """
    endian = "<"
    first = True
    while True:
        head = src.read(12)
        if first and (len(head) < 12 or struct.unpack_from("<I", head)[0] != SHB):
            raise ValueError("not a pcapng file: no Section Header Block at its start")
        first = False
        if len(head) < 12:
            dst.write(head)
            return
        if struct.unpack_from("<I", head)[0] == SHB:
            endian = "<" if head[8:12] == struct.pack("<I", BYTE_ORDER_MAGIC) else ">"
        btype, blen = struct.unpack_from(endian + "II", head)
        if blen < 12 or blen % 4:
            dst.write(head)
            _copy(src, dst, None)
            return
        dst.write(head)
        if not _copy(src, dst, blen - 12):
            return
        if btype == SHB:
            dst.write(dsb(secrets, endian))


def _copy(src, dst, n: int | None) -> bool:
    """Copy ``n`` bytes (None: all that is left); False when the source ended first."""
    while n is None or n > 0:
        piece = src.read(COPY_CHUNK if n is None else min(n, COPY_CHUNK))
        if not piece:
            return n is None
        dst.write(piece)
        if n is not None:
            n -= len(piece)
    return True
