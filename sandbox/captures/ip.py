"""IPv4 and IPv6 (with extension headers and fragments) down to TCP/UDP ``Segment``s."""

from __future__ import annotations

import socket
import struct
from collections import Counter

from sandbox.captures.fragments import Fragments
from sandbox.captures.links.ethertypes import IPV4, IPV6
from sandbox.model import Segment

V4 = struct.Struct("!BBHHHBBH4s4s")    # ver/ihl, tos, total length, id, flags/offset, ttl, proto, csum, src, dst
V6 = struct.Struct("!IHBB16s16s")      # ver/class/label, payload length, next header, hop limit, src, dst
V6_FRAG = struct.Struct("!BBHI")       # next header, reserved, offset/flags, identification
TCP = struct.Struct("!HHIIBB")         # sport, dport, seq, ack, data offset, flags
UDP = struct.Struct("!HHH")            # sport, dport, length
PROTO_TCP, PROTO_UDP = 6, 17
# IPv6 extension headers we walk (hop-by-hop, routing, destination options, AH); 44 = fragment.
V6_EXT = frozenset((0, 43, 60, 51))
V6_FRAGMENT = 44
# Extension headers walked before giving up (RFC 8200 allows each once, dest-opts twice).
MAX_V6_EXT = 8
# Distinct addresses whose text form we cache: inet_ntop per packet is the cost this saves.
ADDR_CACHE = 65536


class IpDecoder:
    """Stateful (fragments, counters) decoder of one capture's network layer."""

    def __init__(self) -> None:
        self.fragments = Fragments()
        self.skipped: Counter[str] = Counter()
        self._v4: dict[bytes, str] = {}
        self._v6: dict[bytes, str] = {}

    def decode(self, ethertype: int, data: bytes, off: int, t: float, frame: int) -> Segment | None:
        if ethertype == IPV4:
            return self._ipv4(data, off, t, frame)
        if ethertype == IPV6:
            return self._ipv6(data, off, t, frame)
        self.skipped["not ip"] += 1
        return None

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

    def _ipv4(self, data: bytes, off: int, t: float, frame: int) -> Segment | None:
        if len(data) - off < 20:
            self.skipped["malformed ip"] += 1
            return None
        vihl, _, total, ident, frag, _, proto, _, src, dst = V4.unpack_from(data, off)
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20:
            self.skipped["malformed ip"] += 1
            return None
        end = off + total if ihl <= total and off + total <= len(data) else len(data)  # trims padding
        payload = data[off + ihl:end]
        if frag & 0x3FFF:   # more-fragments flag or a non-zero offset
            done = self.fragments.add((4, src, dst, ident, proto), (frag & 0x1FFF) * 8, payload,
                                      bool(frag & 0x2000), t)
            if done is None:
                return None
            payload = done[0]
        return self._transport(proto, payload, self.addr(src), self.addr(dst), t, frame)

    def _ipv6(self, data: bytes, off: int, t: float, frame: int) -> Segment | None:
        if len(data) - off < 40:
            self.skipped["malformed ip"] += 1
            return None
        vtc, plen, nh, _, src, dst = V6.unpack_from(data, off)
        if vtc >> 28 != 6:
            self.skipped["malformed ip"] += 1
            return None
        end = off + 40 + plen if plen and off + 40 + plen <= len(data) else len(data)
        payload = data[off + 40:end]
        for _ in range(MAX_V6_EXT):
            if nh in V6_EXT:
                if len(payload) < 2:
                    break
                size = (payload[1] + 2) * 4 if nh == 51 else (payload[1] + 1) * 8
                nh, payload = payload[0], payload[size:]
            elif nh == V6_FRAGMENT:
                if len(payload) < 8:
                    break
                nxt, _, offflags, ident = V6_FRAG.unpack_from(payload)
                done = self.fragments.add((6, src, dst, ident), offflags & 0xFFF8, payload[8:],
                                          bool(offflags & 1), t, nxt)
                if done is None:
                    return None
                payload, nh = done[0], done[1] if done[1] is not None else nxt
            else:
                break
        return self._transport(nh, payload, self.addr(src), self.addr(dst), t, frame)

    def _transport(self, proto: int, p: bytes, src: str, dst: str, t: float, frame: int) -> Segment | None:
        if proto == PROTO_TCP:
            if len(p) < 20:
                self.skipped["malformed tcp"] += 1
                return None
            sport, dport, seq, ack, doff, flags = TCP.unpack_from(p)
            doff = (doff >> 4) * 4
            if doff < 20:
                self.skipped["malformed tcp"] += 1
                return None
            return Segment(t, "net", "tcp", src, sport, dst, dport, p[doff:], seq, ack, flags, frame)
        if proto == PROTO_UDP:
            if len(p) < 8:
                self.skipped["malformed udp"] += 1
                return None
            sport, dport, length = UDP.unpack_from(p)
            data = p[8:length] if 8 <= length <= len(p) else p[8:]
            return Segment(t, "net", "udp", src, sport, dst, dport, data, frame=frame)
        self.skipped[f"ip proto {proto}"] += 1
        return None
