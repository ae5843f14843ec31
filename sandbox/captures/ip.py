"""The network layer: IPv4 and IPv6 (extension headers, fragments) and every tunnel that carries them,
down to TCP/UDP ``Segment``s (and ICMP and routing control that can carry anything out: transport
"icmp" and "ip").

``decode`` starts at the protocol number a link module found and peels layers: IP itself, then
whatever ``sandbox.captures.encaps`` registers (GRE, ERSPAN, VXLAN, Geneve, GTP-U, PPPoE, MPLS,
IP in IP...), at most ``MAX_LAYERS`` deep.  The Segment of a tunnelled packet carries the inner
addresses and ports, so its flow and direction are the inner ones.  A frame that ends anywhere
else is counted: as harmless (``examined.NOT_DATA``) or as not examined, with its bytes.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from typing import Any

from sandbox.captures.encaps import DECAPS
from sandbox.captures.examined import CONTROL_SIZE, NAMES, NOT_DATA, PADDED_BODY, describe
from sandbox.captures.fragments import Fragments
from sandbox.captures.heads import V4_HEAD, ipv6_head, option_spans, tcp_options
from sandbox.captures.numbers import DECLINED, EMPTY, IP_PROTO, IPV4, IPV6, LLC, MAX_LENGTH, UDP_PORT
from sandbox.model import URG, Segment

V4 = struct.Struct("!BBHHHBBH4s4s")    # ver/ihl, tos, total length, id, flags/offset, ttl, proto, csum, src, dst
V6 = struct.Struct("!IHBB16s16s")      # ver/class/label, payload length, next header, hop limit, src, dst
V6_FRAG = struct.Struct("!BBHI")       # next header, reserved, offset/flags, identification
TCP = struct.Struct("!HHIIBB")         # sport, dport, seq, ack, data offset, flags
UDP = struct.Struct("!HHH")            # sport, dport, length
ICMP_ECHO_HEADER = struct.Struct("!BBHHH")   # type, code, checksum, identifier, sequence
PROTO_TCP, PROTO_UDP, PROTO_AH = 6, 17, 51
PROTO_ICMP, PROTO_ICMPV6 = 1, 58
# Echo request and reply (RFC 792, RFC 4443): one flow per identifier, request and reply alike.
ICMP_ECHO = {PROTO_ICMP: frozenset((0, 8)), PROTO_ICMPV6: frozenset((128, 129))}
# ICMP control: router and neighbour discovery, MLD (link-scoped), timestamps, information and
# address masks (fixed fields: their size in bytes after the 8-byte header).  Harmless sent within
# the link (``_link_scoped``) or no longer than its fixed fields; any other ICMP message with a body
# is examined: an error quotes "the packet it reports" as far as 576 (v6: 1280) bytes go, which its
# sender makes up at will.
ICMP_CONTROL_TYPES = {PROTO_ICMP: frozenset((9, 10, 13, 14, 15, 16, 17, 18)),
                      PROTO_ICMPV6: frozenset((130, 131, 132, 133, 134, 135, 136, 137, 141, 142, 143, 144, 145,
                                               146, 147, 148, 149, 151, 152, 153))}
ICMP_FIXED = {13: 12, 14: 12, 15: 0, 16: 0, 17: 4, 18: 4, 10: 0}
ICMP_HEADER = 8              # type, code, checksum and the 4 bytes each type uses its own way
NO_SEQUENCE = bytes(2)       # the head record's echo sequence of an ICMP message that is no echo
# Routing and group control (IGMP, EIGRP, OSPF, PIM, VRRP): harmless within the link.  Sent
# anywhere else it can leave the bench and carries what its sender likes (a PIM Register carries
# whole packets): examined as data, as is anything after an IPv6 "no next header".
LINK_CONTROL = frozenset((2, 88, 89, 103, 112))
NO_NEXT_HEADER = 59
# IPv6 extension headers we walk (hop-by-hop, routing, destination options, AH); 44 = fragment.
V6_EXT = frozenset((0, 43, 60, 51))
V6_FRAGMENT = 44
# Extension headers walked before giving up (RFC 8200 allows each once, dest-opts twice).
MAX_V6_EXT = 8
# IPv4 authentication headers walked (one per security association; nested ones are rare).
MAX_V4_AH = 4
# Layers peeled per frame (each tunnel header and each IP header counts one): an ERSPAN copy of a
# VXLAN-tunnelled PPPoE session is 9; a deeper stack is a crafted loop and is reported.
MAX_LAYERS = 16
# What a decapsulator raises on a header cut short or malformed (see sandbox.captures.encaps).
DECAP_ERRORS = (struct.error, IndexError, ValueError)
# Bytes a frame may carry after the IP packet it holds: Ethernet padding to 46 bytes of body, a frame
# check sequence.  More is of the sender's choice (a broadcast's trailer reaches every host on the
# segment) and is said, not trimmed in silence.
MAX_TRAILER = 50
TRAILER = "bytes after the IP packet in its frame, more than padding (of the sender's choice)"
OVERLAP_TUNNELLED = "IP fragments overlapping others with other content, whose datagram carries a tunnel's packet"
# Header bytes a packet's sender chooses that reach the far host (an application reads IPv6 options
# with IPV6_RECVDSTOPTS): trusted up to what the options of a lab's traffic take (IPv4: a router
# alert; IPv6 hop-by-hop and destination options: a router alert, a jumbo length, a tunnel limit,
# padding; a routing header of four segments; an authentication header).  Past that the options' bytes
# go after the record of the Segment the frame makes (read with its TCP options' values, a stream of
# the flow's: ``protocols.heads``); said where the frame makes none (a fragment, a packet not read).
MAX_V4_OPTIONS = 4
V4_OPTIONS = "IPv4 options past a router alert (option data of the sender's choice)"
MAX_V6_EXT_SIZE = {0: 16, 60: 16, 43: 72, 51: 40}
V6_OPTIONS = "IPv6 extension headers longer than their usual options (option data of the sender's choice)"
# TCP option kinds with registered meanings (IANA tcp-parameters): MSS, window scale, SACK, timestamps,
# MD5 and AO signatures, user timeout, quick-start, MPTCP, Fast Open, ENO, the experimental pair (RFC
# 6994, which Fast Open's draft and others use).  Bytes of other kinds reach the far host's stack
# (which skips them) and anyone reading its packets raw: past a few, not examined.
TCP_OPTION_KINDS = frozenset((2, 3, 4, 5, 6, 7, 8, 19, 27, 28, 29, 30, 34, 69, 253, 254))
MAX_UNKNOWN_OPTION = 8
# How every option list of an established connection starts on Linux and macOS (NOP, NOP, the
# timestamps' kind and length): the common case, not walked when it is all there is.
TIMESTAMPS = b"\x01\x01\x08\x0a"
TCP_OPTIONS = "TCP options of kinds nobody registered (option data of the sender's choice)"
# Distinct addresses whose text form we cache: inet_ntop per packet is the cost this saves.
ADDR_CACHE = 65536


class IpDecoder:
    """Stateful (fragments, counters) decoder of one capture's network layer.

    ``skipped`` counts frames that carried nothing to examine, by reason; ``unexamined`` and
    ``unexamined_bytes`` count frames that may have carried data we could not read, by what
    stopped us (captured bytes of the whole frame).
    """

    def __init__(self) -> None:
        self.fragments = Fragments()
        self.skipped: Counter[str] = Counter()
        self.unexamined: Counter[str] = Counter()
        self.unexamined_bytes: Counter[str] = Counter()
        self._v4: dict[bytes, str] = {}
        self._v6: dict[bytes, str] = {}
        self._size = 0           # captured bytes of the frame being decoded
        self._outer: tuple[int, bytes, bytes] = (0, b"", b"")   # what an IP layer just handed on to, between which ends
        self._zones: dict[tuple, str] = {}
        self._side: Any = None       # where the frame being decoded was seen (``decode``)
        # other versions of the datagram the frame completed (fragments that overlap with other content):
        # Segments of their own, beside the one ``decode`` returns
        self.variants: list[Segment] = []
        self._options = bytearray()     # the frame's IP options past the usual (to its Segment's record)
        self._v4_options = False        # ... the last of them an IPv4 header's (to say which, if unread)

    def decode(self, proto: int, data: bytes, off: int, t: float, frame: int, side: Any = None) -> Segment | None:
        """The Segment inside one frame whose link layer announced ``proto`` at ``off``, if any.

        ``side``: where the capturing host saw the frame, if its link says (received or sent, and on
        which interface): fragments seen on different sides are never one datagram."""
        self._size = len(data)
        self._side = side
        if self.variants:
            self.variants = []
        if self._options:
            self._options.clear()
        layers: list[tuple[int, bytes, bytes]] = []    # the tunnels peeled, outermost first
        try:
            for _ in range(MAX_LAYERS):
                reason = NOT_DATA.get(proto)
                if reason is not None:
                    size = CONTROL_SIZE.get(proto)
                    if size is not None and len(data) - off > max(PADDED_BODY, size(data, off)):
                        self.not_examined(f"{describe(proto)} ({reason.split(':')[0]}): frames longer than "
                                          "their fields (what follows is of the sender's choice)", self._size)
                    else:
                        self.skipped[reason] += 1
                    return None
                if off >= len(data):
                    if off > len(data):
                        self.not_examined(f"{describe(proto)}: frames cut short", self._size)
                    else:
                        self.skipped[NOT_DATA[EMPTY]] += 1
                    return None
                if proto == IPV4:
                    found = self._ipv4(data, off, t, frame)
                elif proto == IPV6:
                    found = self._ipv6(data, off, t, frame)
                else:
                    decap = DECAPS.get(LLC if proto <= MAX_LENGTH else proto)
                    if decap is None:
                        self.not_examined(describe(proto), self._size)
                        return None
                    proto, off = decap(data, off)
                    continue
                if found is None or type(found) is Segment:
                    if layers:
                        for seg in ([found] if found is not None else []) + self.variants:
                            seg.meta = {**(seg.meta or {}), "tunnel": self._zone(layers)}
                    if self._options:
                        self._options_to(found)
                    return found
                proto, data, off = found
                layers.append(self._outer)
        except DECAP_ERRORS as exc:
            self._broken(proto, exc)
            return None
        self.not_examined(f"frames nested deeper than {MAX_LAYERS} layers", self._size)
        return None

    def _options_to(self, found: Segment | None) -> None:
        """The frame's IP options past the usual after its Segment's record (said where it made none)."""
        if found is not None and found.head:
            found.head += bytes(self._options)
        else:
            self.not_examined(V4_OPTIONS if self._v4_options else V6_OPTIONS, self._size)

    def not_examined(self, what: str, size: int) -> None:
        """Count one frame of ``size`` captured bytes that may carry data we could not read."""
        self.unexamined[what] += 1
        self.unexamined_bytes[what] += size

    def _broken(self, proto: int, exc: Exception) -> None:
        why = "cut short" if isinstance(exc, struct.error | IndexError) else "malformed"
        self.not_examined(f"{describe(proto)}: headers {why}", self._size)

    def addr(self, raw: bytes) -> str:
        """Text form of a 4- or 16-byte address, cached."""
        cache = self._v4 if len(raw) == 4 else self._v6
        text = cache.get(raw)
        if text is None:
            text = socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
            if len(cache) >= ADDR_CACHE:
                cache.clear()
            cache[raw] = text
        return text

    def _ipv4(self, data: bytes, off: int, t: float, frame: int) -> Segment | tuple | None:
        if len(data) - off < 20:
            self.not_examined("IPv4 headers cut short", self._size)
            return None
        vihl, tos, total, ident, frag, ttl, proto, _, src, dst = V4.unpack_from(data, off)
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20:
            self.not_examined("IPv4 headers malformed", self._size)
            return None
        end = off + total if ihl <= total and off + total <= len(data) else len(data)  # trims padding
        if len(data) - end > MAX_TRAILER:
            self.not_examined(TRAILER, self._size)
        if ihl - 20 > MAX_V4_OPTIONS:
            self._options += data[off + 20:off + ihl]
            self._v4_options = True
        payload = data[off + ihl:end]
        head = V4_HEAD.pack(ident, tos, ttl)
        if frag & 0x3FFF:   # more-fragments flag or a non-zero offset
            done = self.fragments.add((4, src, dst, ident, proto, self._side), (frag & 0x1FFF) * 8, payload,
                                      bool(frag & 0x2000), t)
            if done is None:
                return None
            payload = done[0]
            for variant in done[2]:
                self._variant(self._v4_payload(proto, variant, src, dst, t, frame, head))
        return self._v4_payload(proto, payload, src, dst, t, frame, head)

    def _v4_payload(self, proto: int, payload: bytes, src: bytes, dst: bytes, t: float, frame: int,
                    head: bytes) -> Segment | tuple | None:
        for _ in range(MAX_V4_AH):
            if proto != PROTO_AH:
                break
            proto, payload = payload[0], payload[(payload[1] + 2) * 4:]
        return self._transport(proto, payload, src, dst, t, frame, head)

    def _variant(self, found: Segment | tuple | None) -> None:
        """Another version of a reassembled datagram (``Fragments``): its Segment goes with the frame's;
        one that carries a tunnel's packet is not followed in (said)."""
        if type(found) is Segment:
            self.variants.append(found)
        elif found is not None:
            self.not_examined(OVERLAP_TUNNELLED, self._size)

    def _ipv6(self, data: bytes, off: int, t: float, frame: int) -> Segment | tuple | None:
        if len(data) - off < 40:
            self.not_examined("IPv6 headers cut short", self._size)
            return None
        vtc, plen, nh, hops, src, dst = V6.unpack_from(data, off)
        if vtc >> 28 != 6:
            self.not_examined("IPv6 headers malformed", self._size)
            return None
        end = off + 40 + plen if plen and off + 40 + plen <= len(data) else len(data)
        if len(data) - end > MAX_TRAILER:
            self.not_examined(TRAILER, self._size)
        payload = data[off + 40:end]
        for _ in range(MAX_V6_EXT):
            if nh in V6_EXT:
                if len(payload) < 2:
                    break
                size = (payload[1] + 2) * 4 if nh == 51 else (payload[1] + 1) * 8
                if size > MAX_V6_EXT_SIZE[nh]:
                    self._options += payload[2:size]
                    self._v4_options = False
                nh, payload = payload[0], payload[size:]
            elif nh == V6_FRAGMENT:
                if len(payload) < 8:
                    break
                nxt, _, offflags, ident = V6_FRAG.unpack_from(payload)
                done = self.fragments.add((6, src, dst, ident, self._side), offflags & 0xFFF8, payload[8:],
                                          bool(offflags & 1), t, nxt)
                if done is None:
                    return None
                payload, nh = done[0], done[1] if done[1] is not None else nxt
                for variant in done[2]:
                    self._variant(self._transport(nh, variant, src, dst, t, frame, ipv6_head(vtc, hops))
                                  if nh not in V6_EXT else ())
            else:
                break
        return self._transport(nh, payload, src, dst, t, frame, ipv6_head(vtc, hops))

    def _transport(self, proto: int, p: bytes, src_raw: bytes, dst_raw: bytes, t: float,
                   frame: int, head: bytes) -> Segment | tuple | None:
        """A Segment for TCP, UDP, ICMP with a body and control that can leave the link (transport "ip",
        the protocol number for ports); ``(next number, bytes, 0)`` for what IP carries else.  ``head``:
        the IP layer's part of the Segment's record of header fields (``sandbox.captures.heads``)."""
        if proto == PROTO_TCP:
            if len(p) < 20:
                self.not_examined("TCP headers cut short", self._size)
                return None
            sport, dport, seq, ack, doff, flags = TCP.unpack_from(p)
            doff = (doff >> 4) * 4
            if doff < 20:
                self.not_examined("TCP headers malformed", self._size)
                return None
            if doff > 20 and not (doff == 32 and p[20:24] == TIMESTAMPS) and _unknown_tcp_options(p, doff):
                self.not_examined(TCP_OPTIONS, self._size)
            # the urgent pointer, where one is set: a receiver takes the byte before it out of the stream
            meta = {"urgent": struct.unpack_from("!H", p, 18)[0]} if flags & URG else None
            return Segment(t, "net", "tcp", self.addr(src_raw), sport, self.addr(dst_raw), dport, p[doff:],
                           seq, ack, flags, frame, meta, head + p[14:16] + p[18:20] + tcp_options(p, doff))
        if proto == PROTO_UDP:
            if len(p) < 8:
                self.not_examined("UDP headers cut short", self._size)
                return None
            sport, dport, length = UDP.unpack_from(p)
            data = p[8:length] if 8 <= length <= len(p) else p[8:]
            port = UDP_PORT | dport if UDP_PORT | dport in DECAPS else UDP_PORT | sport
            decap = DECAPS.get(port)
            if decap is not None and data:
                try:
                    inner, off = decap(data, 0)
                except DECAP_ERRORS as exc:
                    self._broken(port, exc)
                    return None
                if inner != DECLINED:
                    self._outer = (port, src_raw, dst_raw)
                    return inner, data, off
            return Segment(t, "net", "udp", self.addr(src_raw), sport, self.addr(dst_raw), dport, data,
                           frame=frame, head=head)
        if proto in ICMP_ECHO and len(p) >= ICMP_ECHO_HEADER.size and p[0] in ICMP_ECHO[proto]:
            ident = ICMP_ECHO_HEADER.unpack_from(p)[3]   # one flow per identifier: request and reply alike
            return Segment(t, "net", "icmp", self.addr(src_raw), ident, self.addr(dst_raw), ident,
                           p[ICMP_ECHO_HEADER.size:], frame=frame, head=head + p[6:8])
        if proto in ICMP_ECHO and len(p) > ICMP_HEADER and not _icmp_control(proto, p, dst_raw):
            # an error, control sent beyond the link or longer than its fields, a type nobody
            # registered: one flow per type between two hosts
            return Segment(t, "net", "icmp", self.addr(src_raw), p[0], self.addr(dst_raw), p[0], p[ICMP_HEADER:],
                           frame=frame, head=head + NO_SEQUENCE)
        if (proto in LINK_CONTROL and not _link_scoped(dst_raw)) or (proto == NO_NEXT_HEADER and p):
            return Segment(t, "net", "ip", self.addr(src_raw), proto, self.addr(dst_raw), proto, p, frame=frame,
                           head=head)
        self._outer = (IP_PROTO | proto, src_raw, dst_raw)
        return IP_PROTO | proto, p, 0

    def _zone(self, layers: list[tuple[int, bytes, bytes]]) -> str:
        """The tunnels a Segment came through: kind and two endpoints (either direction) of each,
        e.g. "GRE 192.0.2.1-192.0.2.9"; named only for a Segment that came out of one."""
        key = tuple((number, *sorted((a, b))) for number, a, b in layers)
        name = self._zones.get(key)
        if name is None:
            if len(self._zones) >= ADDR_CACHE:
                self._zones.clear()
            name = self._zones[key] = " / ".join(f"{NAMES.get(number) or describe(number)} {self.addr(a)}-{self.addr(b)}"
                                                 for number, a, b in key)
        return name


def _unknown_tcp_options(p: bytes, doff: int) -> bool:
    """Whether a TCP header's options hold more than ``MAX_UNKNOWN_OPTION`` bytes of kinds nobody
    registered (or malformed lengths hiding bytes, or other than zeros after the list's end)."""
    unknown = 0
    for kind, start, stop in option_spans(p, doff):
        if kind == 0:       # end of the list: what follows up to the data is padding, zeros
            unknown += stop - start - bytes(p[start:stop]).count(0)
        elif kind < 0:
            return stop - start + 1 > MAX_UNKNOWN_OPTION
        elif kind not in TCP_OPTION_KINDS:
            unknown += stop - start + 2
    return unknown > MAX_UNKNOWN_OPTION


def _icmp_control(proto: int, p: bytes, dst: bytes) -> bool:
    """ICMP control (``ICMP_CONTROL_TYPES``) kept within the link, or no longer than its fixed fields."""
    return p[0] in ICMP_CONTROL_TYPES[proto] and (
        _link_scoped(dst) or (proto == PROTO_ICMP and len(p) - ICMP_HEADER <= ICMP_FIXED.get(p[0], -1)))


def _link_scoped(dst: bytes) -> bool:
    """An address no router forwards to: 224.0.0.0/24, 169.254.0.0/16, the limited broadcast, IPv6
    link-local unicast and multicast of interface or link scope."""
    if len(dst) == 4:
        return dst[:3] == b"\xe0\x00\x00" or dst[:2] == b"\xa9\xfe" or dst == b"\xff\xff\xff\xff"
    return (dst[0] == 0xFF and dst[1] & 0x0F in (1, 2)) or (dst[0] == 0xFE and dst[1] & 0xC0 == 0x80)
