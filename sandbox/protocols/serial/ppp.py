"""PPP on a serial line (RFC 1661, in RFC 1662's asynchronous HDLC-like framing): a network link.

A dial-up modem to a vendor's service line, a USB cellular modem (``cdc-acm``), a null-modem cable
to a PC running pppd: the line then carries IP, and the rig reads it as captured traffic.  Frames
sit between ``7E`` flags, ``7D`` escapes the next byte (XOR 0x20), and a frame check sequence ends
each: FCS-16 by default, FCS-32 when negotiated (both are tried).  A receiver deletes control
characters its ACCM flags that arrive unescaped (RFC 1662 7.1), so a frame that verifies only
without them is taken so.  Address and control (``FF 03``) and the protocol field may be compressed.

What each frame carries:
- IPv4, IPv6: an IP packet (``Packet``), and Van Jacobson compressed TCP/IP (``vj.py``) rebuilt into one;
- a CCP-compressed datagram (``00FD``, ``00FB``): undone for Deflate (RFC 1979: each packet a
  sync-flushed piece of one stream, the history including the packets sent uncompressed); other
  algorithms (MPPC/MPPE, BSD-Compress, Predictor, Stac) and ECP-encrypted datagrams are ``Unread``;
- control (LCP, IPCP, PAP, CHAP, CCP...): its body goes raw (echo and discard requests carry any bytes);
- any other protocol: raw, and ``Unread`` when it is a network protocol the rig does not read.
Bytes outside verified frames go raw.  The link ends after LCP's Terminate-Ack (unless frames go on),
or as any link does (``link.py``).
"""

from __future__ import annotations

import binascii
import zlib
from typing import ClassVar

from sandbox.protocols.serial.link import FramedLink, LinkSide, first_frame
from sandbox.protocols.serial.transfer import Event, Packet, Unclaimed, Unread
from sandbox.protocols.serial.vj import NOT_REBUILT

FLAG, ESCAPE = 0x7E, 0x7D
FLAG_BYTE = b"\x7e"
ADDRESS_CONTROL = b"\xff\x03"
# Unescaped bytes a receiver's default ACCM deletes (RFC 1662 7.1): all control characters.
CONTROLS = bytes(range(0x20))
FLOW_CONTROL = b"\x11\x13"
_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
GOOD_FCS32 = 0xDEBB20E3
IPV4, IPV6, VJ_COMPRESSED, VJ_UNCOMPRESSED = 0x0021, 0x0057, 0x002D, 0x002F
COMPRESSED, LINK_COMPRESSED, ENCRYPTED, MULTILINK = 0x00FD, 0x00FB, 0x0053, 0x003D
LCP, CCP = 0xC021, 0x80FD
TERMINATE_ACK, CONFIGURE_ACK, RESET_ACK = 6, 2, 15
# Protocols a link's first frame may carry for it to be taken for PPP (control that opens a link,
# and the datagrams of one picked up midway).
STARTS = frozenset((LCP, 0xC023, 0xC223, 0x8021, 0x8057, CCP, IPV4, IPV6, VJ_COMPRESSED, VJ_UNCOMPRESSED, COMPRESSED))
# CCP options (IANA ppp-numbers): the algorithms a compressed datagram may be in.
ALGORITHMS = {1: "Predictor-1", 2: "Predictor-2", 17: "Stac LZS", 18: "MPPC/MPPE", 21: "BSD-Compress",
              24: "Deflate", 26: "Deflate"}
NAMES = {ENCRYPTED: "ECP-encrypted datagrams", MULTILINK: "PPP multilink fragments", 0x002B: "IPX over PPP",
         0x0029: "AppleTalk over PPP", 0x0031: "bridged Ethernet over PPP (BCP)"}
# The longest frame the start of a link is looked for in (escaped): an MRU of 1500, escapes included.
MAX_START_FRAME = 4096
# What one compressed datagram may expand to: the largest MRU and its protocol field.
MAX_DATAGRAM = 65538
HISTORY = 32768
SYNC_FLUSH_TAIL = b"\x00\x00\xff\xff"     # RFC 1979: the compressor drops it, the decompressor adds it back


def fcs16(data: bytes) -> int:
    """PPP's FCS-16 (CRC-16/X.25): CRC-CCITT over bit-reversed bytes, reversed (binascii's C loop)."""
    crc = binascii.crc_hqx(data.translate(_REVERSED), 0xFFFF) ^ 0xFFFF
    return _REVERSED[crc >> 8] | _REVERSED[crc & 0xFF] << 8


def unescape(content: bytes) -> bytes | None:
    """A frame's bytes with ``7D`` escapes undone; None for an aborted frame (``7D`` last)."""
    if ESCAPE not in content:
        return content
    parts = content.split(b"\x7d")
    out = bytearray(parts[0])
    for part in parts[1:]:
        if not part:
            return None
        out.append(part[0] ^ 0x20)
        out += part[1:]
    return bytes(out)


def verified(content: bytes) -> bytes | None:
    """The frame between two flags without its FCS (16 or 32 bits), or None when neither verifies,
    even with the unescaped control characters a receiver deletes taken out: all of them (the default
    ACCM) or XON and XOFF (``asyncmap a0000``, the usual one negotiated)."""
    tried = set()
    for deleted in (b"", CONTROLS, FLOW_CONTROL):
        candidate = content.translate(None, deleted) if deleted else content
        if len(candidate) in tried:
            continue
        tried.add(len(candidate))
        body = unescape(candidate)
        if body is not None:
            if len(body) >= 4 and fcs16(body[:-2]) == int.from_bytes(body[-2:], "little"):
                return body[:-2]
            if len(body) >= 6 and zlib.crc32(body) ^ 0xFFFFFFFF == GOOD_FCS32:
                return body[:-4]
    return None


def protocol(frame: bytes) -> tuple[int, int] | None:
    """``(protocol, where its information starts)``; None when the field is malformed."""
    at = 2 if frame[:2] == ADDRESS_CONTROL else 0
    if at >= len(frame):
        return None
    if frame[at] & 1:
        return frame[at], at + 1
    if at + 2 > len(frame) or not frame[at + 1] & 1:
        return None
    return frame[at] << 8 | frame[at + 1], at + 2


def _opens_a_link(content: bytes) -> bool:
    frame = verified(content)
    field = protocol(frame) if frame else None
    return field is not None and field[0] in STARTS


class _Deflate:
    """One direction's RFC 1979 decompressor: the stream's last 32 KiB is all it keeps between packets
    (each ends on a sync flush), so each packet inflates on its own with that history as dictionary.
    A packet missing from the sequence (lost to noise) leaves the history unknown: nothing is read
    until the compressor resets (CCP Reset-Ack), as the peer's own decompressor does."""

    def __init__(self) -> None:
        self.history = b""
        self.expected: int | None = None     # the next sequence number; None: take the next as it comes
        self.broken = False

    def inflate(self, seq: int, data: bytes) -> bytes | None:
        if self.broken or (self.expected is not None and seq != self.expected):
            self.broken = True
            return None
        self.expected = (seq + 1) & 0xFFFF
        d = zlib.decompressobj(-15, zdict=self.history) if self.history else zlib.decompressobj(-15)
        try:
            out = d.decompress(data + SYNC_FLUSH_TAIL, MAX_DATAGRAM)
        except zlib.error:
            out = b""
        if d.unconsumed_tail or not out:
            self.broken = True
            return None
        self.remember(out)
        return out

    def remember(self, data: bytes) -> None:
        self.history = (self.history + data)[-HISTORY:]

    def sent_uncompressed(self, data: bytes) -> None:
        """A datagram the compressor took in but sent as it was (it would have grown): in the history,
        and it used a sequence number (Linux's ``z_incomp``)."""
        self.remember(data)
        if self.expected is not None:
            self.expected = (self.expected + 1) & 0xFFFF


class _Side(LinkSide):
    def __init__(self, direction: str) -> None:
        super().__init__(direction)
        self.algorithm = ""        # what its CCP-compressed datagrams are in ("" until CCP says)
        self.deflate = _Deflate()


class PppLink(FramedLink):
    """One PPP link on a line, both directions; see the module docstring."""

    name: ClassVar[str] = "ppp"
    framing: ClassVar[bytes] = FLAG_BYTE

    @staticmethod
    def find(data: bytes, fresh: int = 0) -> tuple[int, int]:
        """A flag opening a verified frame of a protocol a link starts with."""
        return first_frame(data, fresh, FLAG_BYTE, 4, MAX_START_FRAME, _opens_a_link)

    def side(self, direction: str) -> _Side:
        return _Side(direction)

    def take(self, side: _Side, content: bytes, at: int, out: list[Event]) -> bool:  # type: ignore[override]
        frame = verified(content)
        field = protocol(frame) if frame else None
        if field is None:
            return False
        self._datagram(side, field[0], frame[field[1]:], at, out)
        return True

    def _datagram(self, side: _Side, proto: int, info: bytes, at: int, out: list[Event],
                  decompressed: bool = False) -> None:
        d = side.direction
        if proto in (IPV4, IPV6):
            out.append(Packet(d, info))
        elif proto == VJ_UNCOMPRESSED:
            packet = side.vj.uncompressed(info)
            self._vj(side, packet, info, at, out)
        elif proto == VJ_COMPRESSED:      # verified: after a frame lost to noise the slot is stale
            packet = side.vj.compressed(info[1:], info[0], verify=True) if info else None
            self._vj(side, packet, info, at, out)
        elif proto in (COMPRESSED, LINK_COMPRESSED) and not decompressed:
            self._compressed(side, info, at, out)
            return
        elif proto >= 0x8000:                  # control: options, echoes, names; bodies scanned raw
            self._control(side, proto, info)
            if info:
                out.append(Unclaimed(d, at, info))
        else:
            out.append(Unread(d, NAMES.get(proto, f"PPP protocol {proto:#06x}"), len(info)))
            if info:
                out.append(Unclaimed(d, at, info))
        if not decompressed and proto <= 0x3FFF and side.algorithm == "Deflate":
            side.deflate.sent_uncompressed((proto.to_bytes(2, "big") if proto > 0xFF else bytes([proto])) + info)

    def _vj(self, side: _Side, packet: bytes | None, info: bytes, at: int, out: list[Event]) -> None:
        if packet is not None:
            out.append(Packet(side.direction, packet))
            return
        out.append(Unread(side.direction, NOT_REBUILT, len(info)))
        out.append(Unclaimed(side.direction, at, info))

    def _compressed(self, side: _Side, info: bytes, at: int, out: list[Event]) -> None:
        algorithm = side.algorithm or "Deflate"           # picked up midway: the common one is tried
        inner = side.deflate.inflate(int.from_bytes(info[:2], "big"), info[2:]) \
            if algorithm == "Deflate" and len(info) > 2 else None
        field = protocol(inner) if inner else None
        if field is None:
            out.append(Unread(side.direction, f"PPP datagrams compressed with {side.algorithm or 'an unknown algorithm'}",
                              len(info)))
            out.append(Unclaimed(side.direction, at, info))
            return
        self._datagram(side, field[0], inner[field[1]:], at, out, decompressed=True)

    def _control(self, side: _Side, proto: int, info: bytes) -> None:
        if len(info) < 4:
            return
        code = info[0]
        if proto == LCP and code == TERMINATE_ACK:
            self.ending = side.direction
        elif proto == CCP and code == CONFIGURE_ACK:
            # the side that acknowledges compresses what it sends with the option it acknowledged
            option = info[4] if len(info) > 4 else -1
            side.algorithm = ALGORITHMS.get(option, f"CCP option {option}")
            side.deflate = _Deflate()
        elif proto == CCP and code == RESET_ACK:
            side.deflate = _Deflate()
