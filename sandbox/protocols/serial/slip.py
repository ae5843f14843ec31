"""SLIP (RFC 1055) and compressed SLIP (CSLIP, RFC 1144) on a serial line: a network link.

What ``slattach`` or an embedded controller's TCP/IP stack speaks over a bare serial port.  A packet
ends with END (``C0``), and usually begins with one to flush line noise; inside it ``DB DC`` stands for
``C0`` and ``DB DD`` for ``DB`` (an ESC before any other byte is dropped, as Linux's driver does).
SLIP has no checksum, so a packet is taken when its own headers vouch for it: IPv4 with a right header
checksum and total length, IPv6 with its payload length; compressed SLIP's uncompressed TCP (first
nibble 7: version and protocol restored, the checksum then right), and compressed TCP (top bit set)
rebuilt from its connection's slot (``vj.py``); and a TCP or UDP checksum that verifies, as the
receiving host's stack asks (a packet line noise hit goes raw, and its retransmission is the data).  Compressed TCP of a
connection not seen from its start cannot be placed in its stream: ``Unread``, and its bytes go raw.
"""

from __future__ import annotations

from typing import ClassVar

from sandbox.protocols.serial.link import WEAK, FramedLink, LinkSide, Weak, first_frame
from sandbox.protocols.serial.transfer import Event, Packet, Unclaimed, Unread
from sandbox.protocols.serial.vj import (
    NOT_REBUILT,
    TYPE_COMPRESSED_TCP,
    TYPE_UNCOMPRESSED_TCP,
    ipv4_checksum,
    transport_checksum_ok,
)

END, ESC = 0xC0, 0xDB
END_BYTE = b"\xc0"
UNESCAPED = {0xDC: 0xC0, 0xDD: 0xDB}
# The longest packet the start of a link is looked for in (escaped): an MTU of 1500, escapes included.
MAX_START_PACKET = 4096


def unescape(content: bytes) -> bytes:
    if ESC not in content:
        return content
    parts = content.split(b"\xdb")
    out = bytearray(parts[0])
    for part in parts[1:]:
        if part:
            out.append(UNESCAPED.get(part[0], part[0]))
            out += part[1:]
    return bytes(out)


def ip_packet(packet: bytes) -> bytes | None:
    """``packet`` as IP when its headers vouch for it (compressed SLIP's uncompressed TCP restored to
    IPv4 for the check only), else None."""
    if len(packet) < 20:
        return None
    kind = packet[0] >> 4
    if kind == 6:
        return packet if len(packet) >= 40 and int.from_bytes(packet[4:6], "big") == len(packet) - 40 else None
    if kind not in (4, TYPE_UNCOMPRESSED_TCP >> 4):
        return None
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20 or len(packet) < ihl or int.from_bytes(packet[2:4], "big") != len(packet):
        return None
    header = bytearray(packet[:ihl])
    if kind != 4:
        header[0], header[9] = 0x40 | (packet[0] & 0x0F), 6
    return packet if ipv4_checksum(header) == int.from_bytes(packet[10:12], "big") else None


class SlipLink(FramedLink):
    """One SLIP or compressed SLIP link on a line, both directions; see the module docstring."""

    name: ClassVar[str] = "slip"
    framing: ClassVar[bytes] = END_BYTE

    @staticmethod
    def find(data: bytes, fresh: int = 0) -> tuple[int, int]:
        """An END opening a packet whose headers vouch for it."""
        return first_frame(data, fresh, END_BYTE, 20, MAX_START_PACKET,
                           lambda content: ip_packet(unescape(content)) is not None)

    def take(self, side: LinkSide, content: bytes, at: int, out: list[Event]) -> bool | Weak:
        packet = unescape(content)
        if not packet:
            return False
        d = side.direction
        if packet[0] & TYPE_COMPRESSED_TCP:
            rebuilt = side.vj.compressed(packet[1:], packet[0] & 0x7F, verify=True)
            if rebuilt is not None:
                out.append(Packet(d, rebuilt))
                return True
            out.append(Unread(d, NOT_REBUILT, len(packet)))
            out.append(Unclaimed(d, at, packet))
            return WEAK
        if ip_packet(packet) is None:
            return False
        if packet[0] >> 4 == TYPE_UNCOMPRESSED_TCP >> 4:
            restored = bytearray(packet)
            restored[0], restored[9] = 0x40 | (packet[0] & 0x0F), 6
            if not transport_checksum_ok(bytes(restored)):
                return False
            rebuilt = side.vj.uncompressed(packet)
            if rebuilt is None:
                return False
            packet = rebuilt
        elif not transport_checksum_ok(packet):
            return False            # what the host's own stack drops: the retransmission is the data
        out.append(Packet(d, packet))
        return True
