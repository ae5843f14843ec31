"""A simulated PPP peer: what pppd puts on a serial line when an instrument dials out.

RFC 1662's asynchronous HDLC-like framing (FCS-16 or FCS-32, escapes as an ACCM asks), LCP, IPCP and
CCP negotiation, RFC 1144 Van Jacobson header compression (a port of the RFC's own
``sl_compress_tcp``) and RFC 1979 Deflate, as pppd negotiates them by default.  Written here, apart
from the decoders (``sandbox/protocols/serial``): tshark reads what this writes
(``tests/protocols/serial/test_vj.py`` checks the headers it rebuilds), the FCS is computed bit by bit
as the RFC's appendix does, and sliplib writes the tests' SLIP framing.
"""

from __future__ import annotations

import struct
import zlib

from sandbox.captures.writer import LINKTYPE_RAW, TcpConversation

TYPE_IP, TYPE_UNCOMPRESSED_TCP, TYPE_COMPRESSED_TCP = "ip", "uncompressed", "compressed"
NEW_C, NEW_I, PUSH, NEW_S, NEW_A, NEW_W, NEW_U = 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
SPECIAL_I, SPECIAL_D = NEW_S | NEW_W | NEW_U, NEW_S | NEW_A | NEW_W | NEW_U
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def fcs16(data: bytes) -> int:
    """RFC 1662's FCS-16, bit by bit (C.2), independent of the decoder's table trick."""
    fcs = 0xFFFF
    for b in data:
        fcs ^= b
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs ^ 0xFFFF


def hdlc(frame: bytes, accm: int = 0xFFFFFFFF, fcs32: bool = False) -> bytes:
    """One frame between flags, its FCS appended and bytes escaped as ``accm`` asks."""
    check = struct.pack("<I", zlib.crc32(frame)) if fcs32 else struct.pack("<H", fcs16(frame))
    out = bytearray(b"\x7e")
    for b in frame + check:
        if b in (0x7E, 0x7D) or (b < 0x20 and accm >> b & 1):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out + b"\x7e")


def ppp(protocol: int, info: bytes, acfc: bool = False, pfc: bool = False) -> bytes:
    """A PPP frame: address and control unless ``acfc``, the protocol on one byte when ``pfc`` allows."""
    field = bytes([protocol]) if pfc and protocol < 0x100 else protocol.to_bytes(2, "big")
    return (b"" if acfc else b"\xff\x03") + field + info


def control(code: int, ident: int, data: bytes = b"") -> bytes:
    """An LCP/IPCP/CCP packet: code, identifier, length, data."""
    return struct.pack("!BBH", code, ident, 4 + len(data)) + data


class VjCompressor:
    """RFC 1144's compressor (``sl_compress_tcp``), one direction of a link, 16 slots."""

    def __init__(self, slots: int = 16) -> None:
        self.slots: dict[int, bytes] = {}          # slot -> last IP+TCP header
        self.lengths: dict[int, int] = {}
        self.keys: dict[bytes, int] = {}           # (addresses, ports) -> slot
        self.order: list[int] = []                 # least recently used first
        self.capacity = slots
        self.last = -1

    def compress(self, packet: bytes) -> tuple[str, bytes]:
        ihl = (packet[0] & 0x0F) * 4
        if packet[9] != 6 or struct.unpack_from("!H", packet, 6)[0] & 0x3FFF:
            return TYPE_IP, packet
        tcp = packet[ihl:]
        flags = tcp[13]
        if flags & (SYN | FIN | RST) or not flags & ACK:
            return TYPE_IP, packet
        doff = (tcp[12] >> 4) * 4
        hlen = ihl + doff
        key = packet[12:20] + tcp[:4]
        slot = self.keys.get(key)
        if slot is None:
            return self._uncompressed(packet, key, hlen)
        old = self.slots[slot]
        self.order.remove(slot)
        self.order.append(slot)
        # what may not change: IP version/ihl/tos, ttl, proto, fragment field, addresses, options; TCP offset, options
        if (old[0:2] != packet[0:2] or old[6:10] != packet[6:10] or old[12:ihl] != packet[12:ihl]
                or old[ihl + 12] >> 4 != tcp[12] >> 4 or old[ihl + 20:hlen] != tcp[20:doff]):
            return self._uncompressed(packet, key, hlen)
        otcp = old[ihl:]
        deltas = bytearray()
        changes = 0
        if flags & URG:
            deltas += _encode(struct.unpack_from("!H", tcp, 18)[0])
            changes |= NEW_U
        elif tcp[18:20] != otcp[18:20]:
            return self._uncompressed(packet, key, hlen)
        delta_w = (struct.unpack_from("!H", tcp, 14)[0] - struct.unpack_from("!H", otcp, 14)[0]) & 0xFFFF
        if delta_w:
            deltas += _encode(delta_w)
            changes |= NEW_W
        delta_a = (struct.unpack_from("!I", tcp, 8)[0] - struct.unpack_from("!I", otcp, 8)[0]) & 0xFFFFFFFF
        if delta_a:
            if delta_a > 0xFFFF:
                return self._uncompressed(packet, key, hlen)
            deltas += _encode(delta_a)
            changes |= NEW_A
        delta_s = (struct.unpack_from("!I", tcp, 4)[0] - struct.unpack_from("!I", otcp, 4)[0]) & 0xFFFFFFFF
        if delta_s:
            if delta_s > 0xFFFF:
                return self._uncompressed(packet, key, hlen)
            deltas += _encode(delta_s)
            changes |= NEW_S
        old_data = self.lengths[slot] - hlen
        total = struct.unpack_from("!H", packet, 2)[0]
        if changes == 0:
            if not (total != self.lengths[slot] and self.lengths[slot] == hlen):
                return self._uncompressed(packet, key, hlen)
        elif changes in (SPECIAL_I, SPECIAL_D):
            return self._uncompressed(packet, key, hlen)
        elif changes == NEW_S | NEW_A:
            if delta_s == delta_a and delta_s == old_data:
                changes, deltas = SPECIAL_I, bytearray()
        elif changes == NEW_S:
            if delta_s == old_data:
                changes, deltas = SPECIAL_D, bytearray()
        delta_i = (struct.unpack_from("!H", packet, 4)[0] - struct.unpack_from("!H", old, 4)[0]) & 0xFFFF
        if delta_i != 1:
            deltas += _encode(delta_i)
            changes |= NEW_I
        if flags & PSH:
            changes |= PUSH
        self.slots[slot], self.lengths[slot] = packet[:hlen], total
        head = bytearray([changes])
        if slot != self.last:
            head[0] |= NEW_C
            head.append(slot)
            self.last = slot
        return TYPE_COMPRESSED_TCP, bytes(head) + tcp[16:18] + bytes(deltas) + packet[hlen:]

    def _uncompressed(self, packet: bytes, key: bytes, hlen: int) -> tuple[str, bytes]:
        slot = self.keys.get(key)
        if slot is None:
            if len(self.slots) < self.capacity:
                slot = len(self.slots)
            else:
                slot = self.order.pop(0)
                self.keys = {k: v for k, v in self.keys.items() if v != slot}
            self.keys[key] = slot
        else:
            self.order.remove(slot)
        self.order.append(slot)
        self.slots[slot], self.lengths[slot] = packet[:hlen], struct.unpack_from("!H", packet, 2)[0]
        self.last = slot
        return TYPE_UNCOMPRESSED_TCP, packet[:9] + bytes([slot]) + packet[10:]


def _encode(n: int) -> bytes:
    """RFC 1144's ENCODEZ: 1-255 in a byte, else 0 and two bytes (the RFC's ENCODE writes 0 in one
    byte, which its own decoder reads as the escape: no sender uses it for a zero)."""
    return bytes([n]) if 1 <= n <= 255 else b"\x00" + n.to_bytes(2, "big")


class DeflateCompressor:
    """RFC 1979: one deflate stream per direction, each packet (its protocol field and data) a piece
    ending on a sync flush whose last four bytes are dropped, after a sequence number."""

    def __init__(self, level: int = 6) -> None:
        self.z = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.seq = 0

    def compress(self, protocol: int, data: bytes) -> bytes:
        field = bytes([protocol]) if protocol < 0x100 else protocol.to_bytes(2, "big")
        piece = self.z.compress(field + data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert piece.endswith(b"\x00\x00\xff\xff")
        out = self.seq.to_bytes(2, "big") + piece[:-4]
        self.seq = (self.seq + 1) & 0xFFFF
        return out


LCP, IPCP, CCP = 0xC021, 0x8021, 0x80FD
CONFIGURE_REQUEST, CONFIGURE_ACK, TERMINATE_REQUEST, TERMINATE_ACK = 1, 2, 5, 6
DEFLATE_OPTION = bytes([26, 4, 0x78, 0x00])        # Deflate, window 2^15, method 8
PROTOCOLS = {TYPE_IP: 0x0021, TYPE_UNCOMPRESSED_TCP: 0x002F, TYPE_COMPRESSED_TCP: 0x002D}


def ppp_session(packets: list[bytes], instrument: bytes, *, vj: bool = False, deflate: bool = False,
                fcs32: bool = False, acfc: bool = False, pfc: bool = False, accm: int = 0xFFFFFFFF,
                negotiate: bool = True, terminate: bool = True) -> list[tuple[str, bytes]]:
    """The line's chunks for a PPP link carrying ``packets`` (IPv4, in order; those from the
    ``instrument`` address are "out"): LCP, IPCP (and CCP when ``deflate``) negotiation, the packets
    (each a frame, VJ-compressed when ``vj``, through Deflate when ``deflate``), LCP termination."""
    chunks: list[tuple[str, bytes]] = []

    def frame(direction: str, protocol: int, info: bytes, link: bool = True) -> None:
        chunks.append((direction, hdlc(ppp(protocol, info, acfc and link, pfc and link), accm, fcs32)))

    if negotiate:
        for d, other in (("out", "in"), ("in", "out")):
            frame(d, LCP, control(CONFIGURE_REQUEST, 1, bytes([5, 6]) + b"\x12\x34\x56\x78"), link=False)
            frame(other, LCP, control(CONFIGURE_ACK, 1, bytes([5, 6]) + b"\x12\x34\x56\x78"), link=False)
        for d, other in (("out", "in"), ("in", "out")):
            frame(d, IPCP, control(CONFIGURE_REQUEST, 2, bytes([3, 6]) + bytes(4)))
            frame(other, IPCP, control(CONFIGURE_ACK, 2, bytes([3, 6]) + bytes(4)))
            if deflate:
                frame(d, CCP, control(CONFIGURE_REQUEST, 3, DEFLATE_OPTION))
                frame(other, CCP, control(CONFIGURE_ACK, 3, DEFLATE_OPTION))
    compressors = {"out": VjCompressor(), "in": VjCompressor()}
    deflaters = {"out": DeflateCompressor(), "in": DeflateCompressor()}
    for packet in packets:
        d = "out" if packet[12:16] == instrument else "in"
        kind, data = compressors[d].compress(packet) if vj else (TYPE_IP, packet)
        protocol = PROTOCOLS[kind]
        if deflate:
            frame(d, 0x00FD, deflaters[d].compress(protocol, data))
        else:
            frame(d, protocol, data)
    if terminate:
        frame("out", LCP, control(TERMINATE_REQUEST, 9))
        frame("in", LCP, control(TERMINATE_ACK, 9))
    return chunks


class PacketList:
    """A PacketSink keeping the bare IP packets written to it, in order."""

    linktype = LINKTYPE_RAW

    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def write(self, data: bytes, t: float) -> None:
        self.packets.append(data)


def upload_packets(instrument: str, server: str, body: bytes, head: bytes = b"POST /results HTTP/1.1\r\n"
                   b"Host: lims.lab.example\r\nContent-Encoding: gzip\r\n") -> list[bytes]:
    """The IPv4 packets of an HTTP request (``head`` and a Content-Length) with ``body``, its answer and
    the close, in order."""
    sink = PacketList()
    c = TcpConversation(sink, (instrument, 40000), (server, 80), t0=1.0)
    c.send(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    c.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False)
    c.close()
    return sink.packets


# The addresses pppd gives a dial-up link's two ends when none is configured (10.64.64.x), and the
# far end's of a vendor's service host behind its modem pool.
LOCAL, REMOTE = "10.64.64.2", "10.64.64.1"
SERVICE_HOST = "198.18.0.20"          # RFC 2544 benchmarking space: no one's real address


def dial_up(request: bytes, response: bytes) -> list[tuple[str, bytes]]:
    """A modem dialling out, a PPP link with VJ compression and CCP Deflate carrying one HTTP
    exchange (``request`` from the instrument, ``response`` from the service host), hung up: the
    line's chunks, "out" from the instrument."""
    sink = PacketList()
    conv = TcpConversation(sink, (LOCAL, 40000), (SERVICE_HOST, 80), t0=1.0)
    conv.send(request)
    conv.send(response, from_client=False)
    conv.close()
    return [("out", b"ATDT0800555123\r"), ("in", b"\r\nCONNECT 33600\r\n"),
            *ppp_session(sink.packets, bytes(int(n) for n in LOCAL.split(".")), vj=True, deflate=True),
            ("in", b"\r\nNO CARRIER\r\n")]
