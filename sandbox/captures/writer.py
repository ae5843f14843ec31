"""Write pcap/pcapng files and build packets, byte-exactly (for the simulator, tests, benchmarks).

    with PcapWriter(path) as w:                       # LINKTYPE_ETHERNET by default
        conv = TcpConversation(w, client=("10.0.0.2", 51514), server=("93.184.216.34", 80), t0=1.0)
        conv.send(b"POST /x HTTP/1.1\\r\\n...")      # handshake first, then MSS-sized segments
        conv.send(b"HTTP/1.1 200 OK\\r\\n...", from_client=False)
        conv.close()                                   # FIN both ways
        udp(w, ("10.0.0.2", 5353), ("10.0.0.1", 53), b"...", t=2.0)

Checksums are correct (IPv4 header, TCP/UDP with the pseudo-header), so tshark shows no errors.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Protocol, Self

import numpy as np

from sandbox.model import ACK, FIN, PSH, RST, SYN

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL = 0, 1, 101, 113
LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 228, 229, 276
CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")
DEFAULT_SNAPLEN = 262144   # Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD


class PacketSink(Protocol):
    linktype: int

    def write(self, data: bytes, t: float) -> None: ...


# ---- checksums and headers -------------------------------------------------------------------

def checksum(data: bytes) -> int:
    """Internet checksum (RFC 1071), vectorised."""
    if len(data) % 2:
        data += b"\0"
    total = int(np.frombuffer(data, dtype=">u2").sum(dtype=np.uint64))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip_bytes(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    s, d = _ip_bytes(src), _ip_bytes(dst)
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, proto, length)
    return s + d + struct.pack("!IxxxB", length, proto)


def tcp_segment(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
                payload: bytes = b"", window: int = 65535, options: bytes = b"", urgent: int = 0) -> bytes:
    """A TCP segment with its checksum; ``options`` are padded with NOPs to a 4-byte boundary;
    ``urgent``: the urgent pointer."""
    options += b"\x01" * (-len(options) % 4)
    header = struct.pack("!HHIIBBHHH", sport, dport, seq % (1 << 32), ack % (1 << 32), (5 + len(options) // 4) << 4,
                         flags, window, 0, urgent) + options
    csum = checksum(_pseudo(src, dst, 6, len(header) + len(payload)) + header + payload)
    return header[:16] + struct.pack("!H", csum) + header[18:] + payload


def udp_datagram(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    header = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum(_pseudo(src, dst, 17, length) + header + payload) or 0xFFFF
    return header[:6] + struct.pack("!H", csum) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0, ttl: int = 64,
         more_fragments: bool = False, frag_offset: int = 0, dont_fragment: bool = True, tos: int = 0) -> bytes:
    flags = (0x4000 if dont_fragment and not more_fragments and not frag_offset else 0)
    flags |= (0x2000 if more_fragments else 0) | (frag_offset // 8)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident & 0xFFFF, flags, ttl,
                         proto, 0, _ip_bytes(src), _ip_bytes(dst))
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes, hop_limit: int = 64, flow_label: int = 0) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28 | flow_label & 0xFFFFF, len(payload), next_header, hop_limit,
                       _ip_bytes(src), _ip_bytes(dst)) + payload


def ip_packet(src: str, dst: str, proto: int, payload: bytes, ident: int = 0) -> bytes:
    """IPv4 or IPv6 by the address family of ``src``."""
    if ":" in src:
        return ipv6(src, dst, proto, payload)
    return ipv4(src, dst, proto, payload, ident=ident)


def ipv4_fragments(src: str, dst: str, proto: int, payload: bytes, size: int, ident: int = 1) -> list[bytes]:
    """An IPv4 datagram cut into fragments of ``size`` payload bytes (a multiple of 8)."""
    size -= size % 8
    return [ipv4(src, dst, proto, payload[o:o + size], ident=ident, frag_offset=o,
                 more_fragments=o + size < len(payload)) for o in range(0, len(payload), size)]


def ipv6_fragments(src: str, dst: str, next_header: int, payload: bytes, size: int,
                   ident: int = 1) -> list[bytes]:
    size -= size % 8
    out = []
    for o in range(0, len(payload), size):
        more = o + size < len(payload)
        frag = struct.pack("!BBHI", next_header, 0, o | int(more), ident) + payload[o:o + size]
        out.append(ipv6(src, dst, 44, frag))
    return out


def ethernet(payload: bytes, ethertype: int | None = None, src: bytes = CLIENT_MAC, dst: bytes = SERVER_MAC,
             vlans: Iterable[int] = ()) -> bytes:
    if ethertype is None:
        ethertype = 0x86DD if payload[:1] and payload[0] >> 4 == 6 else 0x0800
    tags = b"".join(struct.pack("!HH", 0x88A8 if i == 0 and len(list(vlans)) > 1 else 0x8100, v)
                    for i, v in enumerate(vlans))
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def link_frame(linktype: int, ip: bytes) -> bytes:
    """Wrap an IP packet in the link layer of ``linktype``."""
    v6 = ip[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == LINKTYPE_ETHERNET:
        return ethernet(ip)
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, 12, 14):
        return ip
    if linktype == LINKTYPE_NULL:
        return struct.pack("<I", 30 if v6 else 2) + ip
    if linktype == 108:
        return struct.pack(">I", 24 if v6 else 2) + ip
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack("!HHH8sH", 0, 1, 6, CLIENT_MAC + b"\0\0", ethertype) + ip
    if linktype == LINKTYPE_LINUX_SLL2:
        return cooked_v2(ip)
    if linktype in (7, 129):          # ARCNET (RFC 1201 ids: 212 IPv4, 196 IPv6), Linux with its offset field
        offset = b"\0\0" if linktype == 129 else b""
        return bytes([1, 2]) + offset + bytes([196 if v6 else 212, 0, 0, 1]) + ip
    if linktype == 8:                 # SLIP: direction (1 = sent), TYPE_IP, the 14-byte compressed header slot
        return bytes([1, 0x40]) + bytes(14) + ip
    if linktype == 9:
        return ppp(ip)
    if linktype == 50:
        return ppp(ip, hdlc=True)
    if linktype == 51:
        return pppoe_session(ppp(ip))
    if linktype == 104:               # Cisco HDLC: unicast address, control 0, ethertype
        return struct.pack("!BBH", 0x0F, 0, ethertype) + ip
    if linktype == 105:
        return wlan_data(ip)
    if linktype == 127:               # radiotap: version, pad, length 8, no fields present
        return struct.pack("<BBHI", 0, 0, 8, 0) + wlan_data(ip)
    if linktype == 239:               # NFLOG: family, version, resource id; a prefix TLV, the payload TLV
        prefix = struct.pack("<HH", 8, 10) + b"rig\0"
        return bytes([10 if v6 else 2, 0, 0, 1]) + prefix + struct.pack("<HH", 4 + len(ip), 9) + ip
    if linktype == 258:               # PKTAP: header length, record type 1, DLT_EN10MB, padding to 108
        return struct.pack("<III", 108, 1, 1) + bytes(96) + ethernet(ip)
    raise ValueError(f"no IP framing for link type {linktype}")


def cooked_v2(ip: bytes, ifindex: int = 1, sent: bool = False) -> bytes:
    """An IP packet as a Linux "any" capture records it (LINKTYPE_LINUX_SLL2): seen on interface
    ``ifindex``, received there, or ``sent`` by the capturing host."""
    ethertype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", ethertype, 0, ifindex, 1, 4 if sent else 0, 6, CLIENT_MAC + b"\0\0") + ip


# ---- encapsulations: what tunnels and link layers put around a packet ------------------------

def ppp(ip: bytes, hdlc: bool = False) -> bytes:
    """A PPP frame (RFC 1661), with the HDLC address and control bytes (FF 03) when ``hdlc``."""
    return (b"\xff\x03" if hdlc else b"") + struct.pack("!H", 0x0057 if ip[0] >> 4 == 6 else 0x0021) + ip


def pppoe_session(ppp_frame: bytes, session: int = 0x1234) -> bytes:
    """A PPPoE session header (RFC 2516) before a PPP frame (put it in Ethernet type 0x8864)."""
    return struct.pack("!BBHH", 0x11, 0, session, len(ppp_frame)) + ppp_frame


def gre(payload: bytes, protocol: int, key: int | None = None, seq: int | None = None) -> bytes:
    """A GRE version 0 header (RFC 2784/2890) before ``payload``; put it in IP protocol 47."""
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    return (struct.pack("!HH", flags, protocol) + (struct.pack("!I", key) if key is not None else b"")
            + (struct.pack("!I", seq) if seq is not None else b"") + payload)


def erspan(frame: bytes, version: int, session: int = 7, seq: int = 1) -> bytes:
    """A switch's mirrored Ethernet frame in GRE: ERSPAN type I, II or III (without the outer IP)."""
    if version == 1:
        return gre(frame, 0x88BE)
    if version == 2:
        return gre(struct.pack("!HHI", 1 << 12, session, 0) + frame, 0x88BE, seq=seq)
    header = struct.pack("!HHIHH", 2 << 12, session, 0, 0, 0)     # frame type 0: Ethernet
    return gre(header + frame, 0x22EB, seq=seq)


def vxlan(frame: bytes, vni: int = 42) -> bytes:
    """A VXLAN header (RFC 7348, I flag set) before an Ethernet frame; put it in UDP 4789."""
    return struct.pack("!B3xI", 0x08, vni << 8) + frame


def geneve(payload: bytes, protocol: int = 0x6558, vni: int = 42, options: bytes = b"") -> bytes:
    """A Geneve header (RFC 8926) with ``options`` (a multiple of 4 bytes); put it in UDP 6081."""
    return struct.pack("!BBHI", len(options) // 4, 0, protocol, vni << 8) + options + payload


def gtpu(ip: bytes, teid: int = 0x1000, sequence: int | None = None) -> bytes:
    """A GTP-U G-PDU (3GPP TS 29.281) carrying ``ip``, with a sequence number when given; UDP 2152."""
    if sequence is None:
        return struct.pack("!BBHI", 0x30, 0xFF, len(ip), teid) + ip
    return struct.pack("!BBHIHBB", 0x32, 0xFF, len(ip) + 4, teid, sequence, 0, 0) + ip


def mpls(payload: bytes, labels: Iterable[int] = (16, 17)) -> bytes:
    """An MPLS label stack (RFC 3032, TTL 64) before ``payload``; put it in Ethernet type 0x8847."""
    stack = list(labels)
    return b"".join(struct.pack("!I", (label << 12) | (0x100 if i == len(stack) - 1 else 0) | 64)
                    for i, label in enumerate(stack)) + payload


def teredo(ipv6_packet: bytes, origin: bool = True) -> bytes:
    """A Teredo datagram (RFC 4380): an origin indication, then the IPv6 packet; put it in UDP 3544."""
    return (b"\x00\x00" + bytes(6) if origin else b"") + ipv6_packet


def wlan_data(ip: bytes, qos: bool = True) -> bytes:
    """An 802.11 data frame to the distribution system (QoS when ``qos``), LLC/SNAP, then ``ip``."""
    fc = 0x88 if qos else 0x08
    header = struct.pack("!BBH6s6s6sH", fc, 0x01, 0, SERVER_MAC, CLIENT_MAC, SERVER_MAC, 0x10)
    snap = b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", 0x86DD if ip[0] >> 4 == 6 else 0x0800)
    return header + (b"\0\0" if qos else b"") + snap + ip


def _over_ip(outer: tuple[str, str], proto: int, payload: bytes, linktype: int) -> bytes:
    return link_frame(linktype, ip_packet(outer[0], outer[1], proto, payload))


def _over_udp(outer: tuple[str, str], port: int, payload: bytes, linktype: int) -> bytes:
    dgram = udp_datagram(outer[0], outer[1], 49152, port, payload)
    return _over_ip(outer, 17, dgram, linktype)


# kind -> (inner IP packet, outer (src, dst), link type) -> the frame that carries it
ENCAPSULATIONS: dict[str, Callable[[bytes, tuple[str, str], int], bytes]] = {
    "gre": lambda ip, outer, lt: _over_ip(outer, 47, gre(ip, 0x86DD if ip[0] >> 4 == 6 else 0x0800, key=7), lt),
    "gre-ethernet": lambda ip, outer, lt: _over_ip(outer, 47, gre(ethernet(ip), 0x6558), lt),
    "gre-ppp": lambda ip, outer, lt: _over_ip(outer, 47, struct.pack("!HHHH", 0x3001, 0x880B, len(ip) + 2, 9)
                                              + struct.pack("!I", 1) + ppp(ip), lt),
    "erspan1": lambda ip, outer, lt: _over_ip(outer, 47, erspan(ethernet(ip), 1), lt),
    "erspan2": lambda ip, outer, lt: _over_ip(outer, 47, erspan(ethernet(ip), 2), lt),
    "erspan3": lambda ip, outer, lt: _over_ip(outer, 47, erspan(ethernet(ip), 3), lt),
    "pppoe": lambda ip, outer, lt: ethernet(pppoe_session(ppp(ip)), ethertype=0x8864),
    "pppoe-qinq": lambda ip, outer, lt: ethernet(pppoe_session(ppp(ip)), ethertype=0x8864, vlans=(100, 200)),
    "vxlan": lambda ip, outer, lt: _over_udp(outer, 4789, vxlan(ethernet(ip)), lt),
    "geneve": lambda ip, outer, lt: _over_udp(outer, 6081, geneve(ethernet(ip), options=b"\x01\x02\x03\x01" + bytes(4)), lt),
    "gtpu": lambda ip, outer, lt: _over_udp(outer, 2152, gtpu(ip, sequence=5), lt),
    "ipip": lambda ip, outer, lt: _over_ip(outer, 4 if ip[0] >> 4 == 4 else 41, ip, lt),
    "mpls": lambda ip, outer, lt: ethernet(mpls(ip), ethertype=0x8847),
    "teredo": lambda ip, outer, lt: _over_udp(outer, 3544, teredo(ip), lt),
}


class Tunnel:
    """A PacketSink that carries every IP packet written to it inside ``kind``, out through ``writer``.

        with PcapWriter(path) as w:
            conv = TcpConversation(Tunnel(w, "vxlan", ("192.0.2.1", "192.0.2.2")), client, server)
    """

    linktype = LINKTYPE_RAW      # what conversations hand it: bare IP packets

    def __init__(self, writer: PacketSink, kind: str, outer: tuple[str, str] = ("192.0.2.1", "192.0.2.2")) -> None:
        self.writer = writer
        self.encapsulate = ENCAPSULATIONS[kind]
        self.outer = outer

    def write(self, data: bytes, t: float) -> None:
        self.writer.write(self.encapsulate(data, self.outer, self.writer.linktype), t)


# ---- file writers ----------------------------------------------------------------------------

class _FileWriter:
    """Owns the file when given a path; only flushes a file object the caller passed in."""

    def __init__(self, path: Path | str | BinaryIO) -> None:
        self._own = isinstance(path, str | Path)
        self.f: BinaryIO = open(path, "wb") if self._own else path  # noqa: SIM115

    def close(self) -> None:
        if self._own:
            self.f.close()
        else:
            self.f.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PcapWriter(_FileWriter):
    """Classic pcap, little-endian, micro- or nanosecond timestamps."""

    def __init__(self, path: Path | str | BinaryIO, linktype: int = LINKTYPE_ETHERNET,
                 nanosecond: bool = False, snaplen: int = DEFAULT_SNAPLEN, big_endian: bool = False) -> None:
        super().__init__(path)
        self.linktype = linktype
        self.nanosecond = nanosecond
        self.e = ">" if big_endian else "<"
        self.packets = 0
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self.f.write(struct.pack(self.e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, data: bytes, t: float, orig_len: int | None = None) -> None:
        unit = 1_000_000_000 if self.nanosecond else 1_000_000
        ticks = round(t * unit)
        self.f.write(struct.pack(self.e + "IIII", ticks // unit, ticks % unit, len(data),
                                 len(data) if orig_len is None else orig_len) + data)
        self.packets += 1



class PcapngWriter(_FileWriter):
    """pcapng with one or more interfaces, Enhanced Packet Blocks and optional TLS secrets.

    ``interfaces`` is a list of ``(linktype, tsresol)`` where tsresol is the if_tsresol byte
    (6 = microseconds, 9 = nanoseconds).  ``write(data, t)`` uses interface 0 unless told.
    """

    def __init__(self, path: Path | str | BinaryIO, linktype: int = LINKTYPE_ETHERNET,
                 interfaces: list[tuple[int, int]] | None = None, tls_secrets: bytes | None = None,
                 big_endian: bool = False) -> None:
        super().__init__(path)
        self.e = ">" if big_endian else "<"
        self.interfaces: list[tuple[int, int]] = []
        self.linktype = linktype if interfaces is None else interfaces[0][0] if interfaces else linktype
        self.packets = 0
        self._block(0x0A0D0D0A, struct.pack(self.e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        if tls_secrets:
            self.add_secrets(tls_secrets)
        for lt, resol in [(linktype, 6)] if interfaces is None else interfaces:
            self.add_interface(lt, resol)

    def add_interface(self, linktype: int, tsresol: int = 6, name: str = "", description: str = "",
                      speed: int = 0) -> int:
        """An Interface Description Block (may come after packets of other interfaces); its id.

        ``name``, ``description`` and ``speed`` (bits per second) are the if_name, if_description
        and if_speed options (a serial recording names its line and baud rate there)."""
        opts = self._option(9, bytes([tsresol]))
        for code, value in ((2, name.encode()), (3, description.encode()),
                            (8, struct.pack(self.e + "Q", speed) if speed else b"")):
            if value:
                opts += self._option(code, value)
        opts += struct.pack(self.e + "HH", 0, 0)
        self._block(1, struct.pack(self.e + "HHI", linktype, 0, DEFAULT_SNAPLEN) + opts)
        self.interfaces.append((linktype, tsresol))
        return len(self.interfaces) - 1

    def _option(self, code: int, value: bytes) -> bytes:
        return struct.pack(self.e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

    def _block(self, btype: int, body: bytes) -> None:
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        self.f.write(struct.pack(self.e + "II", btype, n) + body + struct.pack(self.e + "I", n))

    def add_secrets(self, keylog: bytes) -> None:
        """A Decryption Secrets Block holding NSS key log lines."""
        self._block(0x0000000A, struct.pack(self.e + "II", 0x544C534B, len(keylog)) + keylog)

    def write(self, data: bytes, t: float, interface: int = 0, orig_len: int | None = None) -> None:
        resol = self.interfaces[interface][1]
        ticks = round(t * (2.0 ** (resol & 0x7F) if resol & 0x80 else 10 ** resol))
        self._block(6, struct.pack(self.e + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                                   len(data) if orig_len is None else orig_len) + data)
        self.packets += 1

    def add_statistics(self, t: float, interface: int = 0, ifdrop: int | None = None,
                       osdrop: int | None = None) -> None:
        """An Interface Statistics Block (what dumpcap writes at the end: packets the capture lost)."""
        ticks = round(t * 10 ** self.interfaces[interface][1])
        opts = b"".join(struct.pack(self.e + "HHQ", code, 8, value)
                        for code, value in ((5, ifdrop), (7, osdrop)) if value is not None)
        self._block(5, struct.pack(self.e + "III", interface, ticks >> 32, ticks & 0xFFFFFFFF) + opts
                    + struct.pack(self.e + "HH", 0, 0))

    def flush(self) -> None:
        """Hand what was written to the OS now (a live recording someone follows)."""
        self.f.flush()

    def write_simple(self, data: bytes) -> None:
        """A Simple Packet Block (interface 0, no timestamp)."""
        self._block(3, struct.pack(self.e + "I", len(data)) + data)
        self.packets += 1

    def write_obsolete(self, data: bytes, t: float, interface: int = 0) -> None:
        """An obsolete Packet Block (type 2), as old Wireshark versions wrote."""
        ticks = round(t * 10 ** self.interfaces[interface][1])
        self._block(2, struct.pack(self.e + "HHIIII", interface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                                   len(data)) + data)
        self.packets += 1



class SidedLink:
    """A capture of a rig's link to the instrument as the rig records it (Linux cooked v2): what the
    ``instrument`` address sends, or anything while ``forging``, was received on interface ``ifindex``;
    the rest the rig sent there.  A PacketSink for conversations written in the link's own frames."""

    linktype = LINKTYPE_LINUX_SLL2

    def __init__(self, writer: PacketSink, instrument: str, ifindex: int = 1) -> None:
        self.writer, self.ifindex = writer, ifindex
        self.instrument = _ip_bytes(instrument)
        self.forging = False

    def write(self, data: bytes, t: float) -> None:
        ip = data[20:]
        src = ip[12:16] if ip[0] >> 4 == 4 else ip[8:24]
        self.writer.write(cooked_v2(ip, self.ifindex, sent=not self.forging and src != self.instrument), t)


# ---- conversations ---------------------------------------------------------------------------

def udp(writer: PacketSink, src: tuple[str, int], dst: tuple[str, int], payload: bytes, t: float,
        ident: int = 0) -> None:
    """Write one UDP datagram."""
    dgram = udp_datagram(src[0], dst[0], src[1], dst[1], payload)
    writer.write(link_frame(writer.linktype, ip_packet(src[0], dst[0], 17, dgram, ident)), t)


class TcpConversation:
    """A TCP connection written packet by packet with correct seq/ack.

    ``send`` cuts data into ``mss`` segments (each acked by the peer unless ``acks=False``);
    ``build`` returns the frames instead of writing them, for tests that reorder or drop.
    """

    def __init__(self, writer: PacketSink, client: tuple[str, int], server: tuple[str, int],
                 t0: float = 0.0, mss: int = 1460, dt: float = 0.0001, isn_client: int = 1000,
                 isn_server: int = 5000, handshake: bool = True, acks: bool = True) -> None:
        self.writer = writer
        self.client, self.server = client, server
        self.t = t0
        self.mss = mss
        self.dt = dt
        self.acks = acks
        self.seq = {True: isn_client, False: isn_server}     # next seq per side (True = client)
        self.started = not handshake
        self.closed = False

    def _frame(self, from_client: bool, flags: int, payload: bytes = b"", seq: int | None = None) -> bytes:
        (src, sport), (dst, dport) = (self.client, self.server) if from_client else (self.server, self.client)
        seg = tcp_segment(src, dst, sport, dport, self.seq[from_client] if seq is None else seq,
                          self.seq[not from_client] if flags & ACK else 0, flags, payload)
        return link_frame(self.writer.linktype, ip_packet(src, dst, 6, seg))

    def _emit(self, frames: list[tuple[float, bytes]], write: bool) -> list[tuple[float, bytes]]:
        if write:
            for t, f in frames:
                self.writer.write(f, t)
        return frames

    def _tick(self) -> float:
        self.t += self.dt
        return self.t

    def handshake(self, write: bool = True) -> list[tuple[float, bytes]]:
        frames = [(self._tick(), self._frame(True, SYN))]
        self.seq[True] += 1
        frames.append((self._tick(), self._frame(False, SYN | ACK)))
        self.seq[False] += 1
        frames.append((self._tick(), self._frame(True, ACK)))
        self.started = True
        return self._emit(frames, write)

    def build(self, data: bytes, from_client: bool = True) -> list[tuple[float, bytes]]:
        """Frames for ``data`` (handshake first if needed) without writing them."""
        return self.send(data, from_client, write=False)

    def send(self, data: bytes, from_client: bool = True, write: bool = True) -> list[tuple[float, bytes]]:
        frames = [] if self.started else self.handshake(write)
        shook = len(frames)          # handshake frames were already written by handshake()
        mv = memoryview(data)
        for off in range(0, len(data), self.mss):
            piece = bytes(mv[off:off + self.mss])
            frames.append((self._tick(), self._frame(from_client, ACK | PSH, piece)))
            self.seq[from_client] += len(piece)
            if self.acks:
                frames.append((self._tick(), self._frame(not from_client, ACK)))
        self._emit(frames[shook:], write)
        return frames

    def segment_at(self, data: bytes, seq: int, from_client: bool = True, flags: int = ACK | PSH) -> bytes:
        """One frame with an explicit sequence number (retransmissions, overlaps)."""
        return self._frame(from_client, flags, data, seq=seq)

    def close(self, from_client: bool = True, write: bool = True) -> list[tuple[float, bytes]]:
        frames = []
        for side in (from_client, not from_client):
            frames.append((self._tick(), self._frame(side, FIN | ACK)))
            self.seq[side] += 1
        frames.append((self._tick(), self._frame(from_client, ACK)))
        self.closed = True
        return self._emit(frames, write)

    def reset(self, from_client: bool = True, write: bool = True) -> list[tuple[float, bytes]]:
        frames = [(self._tick(), self._frame(from_client, RST | ACK))]
        self.closed = True
        return self._emit(frames, write)
