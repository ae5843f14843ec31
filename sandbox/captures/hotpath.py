"""The common case fused into one loop: classic pcap records of Ethernet + IPv4 + TCP.

(pcapng packets get the same header decode per packet via ``ethernet_tcp``, Linux cooked v2 ones via
``cooked_tcp``.)

Per packet the general path costs a generator step, a ``RawPacket``, a copy of the frame, a link
call, three decoder calls and a second copy of the payload.  Here the record header and the
Ethernet/IPv4/TCP headers are each one ``struct`` unpack over the read buffer, and the TCP payload
is the only slice taken.  Anything else (VLAN tags, IP options, fragments, IPv6, UDP, short or
odd headers, TCP options other than timestamps, more than padding after the packet, other link
types) goes through ``slow(data, t, frame)``, the general decoder, so the Segments, stats, errors and
what was not examined are exactly those of the general path.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable, Iterator

from sandbox.captures.heads import NO_TIMESTAMPS, TCP_HEAD
from sandbox.captures.ip import MAX_TRAILER, TIMESTAMPS, IpDecoder
from sandbox.captures.packet import MAX_RECORD
from sandbox.captures.pcap import PcapReader
from sandbox.model import URG, Segment

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL2 = 276
# Ethernet II (12 address bytes skipped, ethertype), IPv4 without options, TCP without its options.
ETH_IP4_TCP = struct.Struct("!12xHBBHHHBBH4s4sHHIIBBH2xH")
# Linux cooked v2 (protocol, interface index, packet type), then the same IPv4 and TCP headers.
SLL2_IP4_TCP = struct.Struct("!H2xI2xB9xBBHHHBBH4s4sHHIIBBH2xH")
PACKET_OUTGOING = 4
# Ethernet 14 + IPv4 20 + TCP 20: a shorter frame takes the general path.
HEADERS = 54
ETHERTYPE_IPV4 = 0x0800
VIHL_PLAIN = 0x45              # IPv4, 20-byte header (no options)
# TCP with no options, or timestamps alone in their usual layout; other options the general path judges
PLAIN_DOFF, TS_DOFF = 0x50, 0x80
PROTO_TCP = 6
NET_TCP = ("net", "tcp")
pack_head = TCP_HEAD.pack     # the Segment's record of header fields (sandbox.captures.heads)


def pcap_segments(reader: PcapReader, ip: IpDecoder, slow: Callable[[bytes, float, int], list[Segment]],
                  counts: Counter, totals: list[int]) -> Iterator[Segment]:
    """Segments of a pcap file in order.

    ``totals`` gets [packets, bytes, last frame, frames the snap length cut, bytes it cut] as it goes.
    """
    c = reader.chunks
    unpack_rec = reader.record.unpack_from
    unpack_hdr = ETH_IP4_TCP.unpack_from
    scale = reader.scale
    hsize = 16 + reader.extra
    ethernet = reader.linktype == LINKTYPE_ETHERNET
    v4 = ip._v4
    addr = ip.addr
    frame = nbytes = ntcp = snapped = lost = 0     # every record takes a frame number: packets == frame
    try:
        while True:
            # record boundary at the end of the buffer: refill, and report damage as packets() does
            if not c.need(hsize):
                if c.remaining or c.error:
                    reader._damage(c, frame + 1, "record header")
                return
            ts, frac, incl, orig = unpack_rec(c.buf, c.pos)
            if incl > MAX_RECORD:
                reader.corrupt(frame + 1, incl)
                return
            if not c.need(hsize + incl):
                reader._damage(c, frame + 1, "packet data")
                return
            buf = c.buf
            pos = c.pos
            limit = len(buf)
            while True:   # every record wholly inside the buffer
                start = pos + hsize
                pos = start + incl
                frame += 1
                nbytes += incl
                if orig > incl:
                    snapped += 1
                    lost += orig - incl
                t = ts + frac * scale
                seg = None
                if ethernet and incl >= HEADERS:
                    (etype, vihl, tos, total, ident, frag, ttl, proto, _, src, dst,
                     sport, dport, seq, ack, doff, flags, window, urgent) = unpack_hdr(buf, start)
                    if (etype == ETHERTYPE_IPV4 and vihl == VIHL_PLAIN and proto == PROTO_TCP
                            and not frag & 0x3FFF and not flags & URG
                            and (doff == PLAIN_DOFF or doff == TS_DOFF and buf[start + 54:start + 58] == TIMESTAMPS)):
                        # IP total length trims Ethernet padding, as the general decoder does
                        end = start + 14 + total if 20 <= total and 14 + total <= incl else pos
                        if end - start >= 34 + (doff >> 4) * 4 and pos - end <= MAX_TRAILER:   # the whole TCP header
                            s = v4.get(src) or addr(src)
                            d = v4.get(dst) or addr(dst)
                            seg = Segment(t, "net", "tcp", s, sport, d, dport,
                                          buf[start + 34 + (doff >> 4) * 4:end], seq, ack, flags, frame, None,
                                          pack_head(ident, tos, ttl, window, urgent,
                                                    buf[start + 58:start + 66] if doff == TS_DOFF else NO_TIMESTAMPS))
                if seg is not None:
                    if not ntcp:
                        counts[NET_TCP] += 0      # keep the order in which transports first appear
                    ntcp += 1
                    yield seg
                else:
                    yield from slow(buf[start:pos], t, frame)
                if limit - pos < hsize:
                    break
                ts, frac, incl, orig = unpack_rec(buf, pos)
                if incl > MAX_RECORD or limit - pos - hsize < incl:
                    break
            c.pos = pos
    finally:
        if ntcp:
            counts[NET_TCP] += ntcp
        totals[:] = frame, nbytes, frame, snapped, lost


def ethernet_tcp(ip: IpDecoder) -> Callable[[bytes, float, int], Segment | None]:
    """The hot-path decode of one Ethernet frame; None means "take the general path"."""
    unpack_hdr = ETH_IP4_TCP.unpack_from
    v4 = ip._v4
    addr = ip.addr

    def decode(data: bytes, t: float, frame: int) -> Segment | None:
        incl = len(data)
        if incl < HEADERS:
            return None
        (etype, vihl, tos, total, ident, frag, ttl, proto, _, src, dst,
         sport, dport, seq, ack, doff, flags, window, urgent) = unpack_hdr(data)
        if (etype != ETHERTYPE_IPV4 or vihl != VIHL_PLAIN or proto != PROTO_TCP
                or frag & 0x3FFF or flags & URG                   # URG: its pointer
                or not (doff == PLAIN_DOFF or doff == TS_DOFF and data[54:58] == TIMESTAMPS)):
            return None
        end = 14 + total if 20 <= total and 14 + total <= incl else incl
        if end < 34 + (doff >> 4) * 4 or incl - end > MAX_TRAILER:     # the whole TCP header
            return None
        return Segment(t, "net", "tcp", v4.get(src) or addr(src), sport, v4.get(dst) or addr(dst), dport,
                       data[34 + (doff >> 4) * 4:end], seq, ack, flags, frame, None,
                       pack_head(ident, tos, ttl, window, urgent, data[58:66] if doff == TS_DOFF else NO_TIMESTAMPS))

    return decode


def cooked_tcp(ip: IpDecoder) -> Callable[[bytes, float, int], Segment | None]:
    """The same for a Linux cooked v2 frame (the rig's recording of its instrument-facing link), its
    Segment saying where the capturing host saw it (``sandbox.captures.links.sll2.side``)."""
    unpack_hdr = SLL2_IP4_TCP.unpack_from
    v4 = ip._v4
    addr = ip.addr

    def decode(data: bytes, t: float, frame: int) -> Segment | None:
        incl = len(data)
        if incl < 60:
            return None
        (etype, ifindex, pkttype, vihl, tos, total, ident, frag, ttl, proto, _, src, dst,
         sport, dport, seq, ack, doff, flags, window, urgent) = unpack_hdr(data)
        if (etype != ETHERTYPE_IPV4 or vihl != VIHL_PLAIN or proto != PROTO_TCP
                or frag & 0x3FFF or flags & URG
                or not (doff == PLAIN_DOFF or doff == TS_DOFF and data[60:64] == TIMESTAMPS)):
            return None
        end = 20 + total if 20 <= total and 20 + total <= incl else incl
        if end < 40 + (doff >> 4) * 4 or incl - end > MAX_TRAILER:
            return None
        return Segment(t, "net", "tcp", v4.get(src) or addr(src), sport, v4.get(dst) or addr(dst), dport,
                       data[40 + (doff >> 4) * 4:end], seq, ack, flags, frame,
                       {"left" if pkttype == PACKET_OUTGOING else "arrived": ifindex},
                       pack_head(ident, tos, ttl, window, urgent, data[64:72] if doff == TS_DOFF else NO_TIMESTAMPS))

    return decode
