"""LINKTYPE_ARCNET_BSD (7): ARCNET, source and destination station, then a protocol id.

RFC 1051 protocol ids (240 IP, 241 ARP) carry the datagram right after them; RFC 1201 ids (212
IP, 213 ARP, 214 RARP, 196 IPv6 per RFC 2497, 250 IPX) have a split flag and a sequence number first; a split flag of
0xFF marks an exception packet, which repeats the protocol id and split flag after 2 filler bytes
(Wireshark's packet-arcnet.c).  ``arcnet_linux.py`` adds Linux's 2-byte offset field.
"""

from __future__ import annotations

from sandbox.captures.numbers import ARCNET_PROTO, IPV4, IPV6

RFC1051 = {240: IPV4, 241: 0x0806}
RFC1201 = {212: IPV4, 213: 0x0806, 214: 0x8035, 196: IPV6, 250: 0x8137}
EXCEPTION = 0xFF


def after_addresses(data: bytes, off: int) -> tuple[int, int]:
    """What the protocol id at ``off`` announces, and where its datagram starts."""
    protocol = data[off]
    if protocol in RFC1051:
        return RFC1051[protocol], off + 1
    if data[off + 1] == EXCEPTION:
        protocol = data[off + 4]
        off += 4
    if len(data) < off + 4:
        raise IndexError("ARCNET header cut short")
    return RFC1201.get(protocol, ARCNET_PROTO | protocol), off + 4


def network(data: bytes) -> tuple[int, int]:
    return after_addresses(data, 2)
