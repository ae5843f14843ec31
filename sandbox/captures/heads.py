"""Header fields whose values a packet's sender chooses, kept per packet (``Segment.head``).

A program with a raw socket writes what it likes into fields no application reads: Covert_TCP (1996)
sent files in IPv4 identifications and TCP initial sequence numbers, others use the TTL, the type of
service, IPv6 flow labels, TCP windows, urgent pointers, timestamps, ICMP echo sequence numbers.  Two
bytes a packet are enough: 6 kB of reads in the identification field of ICMP echo requests without
a byte of payload replayed clean.  The capture layer keeps these fields as one fixed record per
packet; the flow table reads each field of a flow's outbound packets as a stream of its own
(``sandbox.protocols.heads``).

A record starts with the IP layer's four bytes (IPv4: identification, type of service, time to live;
IPv6: the flow label's low 16 bits, traffic class, hop limit); TCP adds its window, urgent pointer and
timestamps (value and echo; zeros without the option), an ICMP echo its sequence number.  After a TCP record come
the values of its other options (``tcp_options``): registered kinds carry 16 bytes a packet of the
sender's choice (an MD5 or AO signature, a Fast Open cookie, SACK blocks, an echoed timestamp).
"""

from __future__ import annotations

import struct

V4_HEAD = struct.Struct("!HBB")          # identification, type of service, time to live
V6_HEAD = struct.Struct("!HBB")          # flow label (low 16 bits), traffic class, hop limit
TCP_HEAD = struct.Struct("!HBBHH8s")     # the IP layer's, window, urgent pointer, timestamps (value, echo)
NO_TIMESTAMPS = bytes(8)
TIMESTAMP_KIND, TIMESTAMP_SIZE = 8, 10
TCP_RECORD = TCP_HEAD.size

IP_FIELDS_V4 = (("IPv4 identification", 2), ("IPv4 type of service", 1), ("IPv4 time to live", 1))
IP_FIELDS_V6 = (("IPv6 flow label", 2), ("IPv6 traffic class", 1), ("IPv6 hop limit", 1))
TRANSPORT_FIELDS = {
    "tcp": (("TCP window", 2), ("TCP urgent pointer", 2), ("TCP timestamp", 4), ("TCP timestamp echo", 4)),
    "icmp": (("ICMP echo sequence", 2),),
}


def ipv6_head(vtc: int, hops: int) -> bytes:
    """The IP layer's record part of an IPv6 packet from its first word and hop limit."""
    return V6_HEAD.pack(vtc & 0xFFFF, (vtc >> 20) & 0xFF, hops)


def tcp_options(tcp: bytes, doff: int) -> bytes:
    """The record's part from a TCP header's options (``doff`` bytes of header): the timestamps (value and
    echo, zeros without the option), then the values of every other option but padding, in a row."""
    at, end = 20, min(doff, len(tcp))
    stamps, values = NO_TIMESTAMPS, b""
    while at < end:
        kind = tcp[at]
        if kind == 0:
            break
        if kind == 1:
            at += 1
            continue
        size = tcp[at + 1] if at + 1 < end else 0
        if size < 2:
            values += bytes(tcp[at + 1:end])    # a length that is none: what follows is the sender's too
            break
        value = bytes(tcp[at + 2:min(at + size, end)])
        if kind == TIMESTAMP_KIND and size == TIMESTAMP_SIZE and stamps is NO_TIMESTAMPS and len(value) == 8:
            stamps = value
        else:
            values += value
        at += size
    return stamps + values


def fields(transport: str, v6: bool) -> tuple[tuple[str, int], ...]:
    """The record's fields of a Segment of ``transport``, in order: (name, size in bytes); a TCP record's
    option values follow them."""
    return (IP_FIELDS_V6 if v6 else IP_FIELDS_V4) + TRANSPORT_FIELDS.get(transport, ())


def columns(records: bytes | bytearray, transport: str, v6: bool) -> list[tuple[str, int, bytes]]:
    """Each field's name, size and values over ``records`` (whole records of ``transport``), in packet
    order."""
    spec = fields(transport, v6)
    step = sum(size for _, size in spec)
    view = memoryview(records)[:len(records) - len(records) % step]
    n = len(view) // step
    out, at = [], 0
    for name, size in spec:
        column = bytearray(n * size)
        for i in range(size):
            column[i::size] = view[at + i::step]
        out.append((name, size, bytes(column)))
        at += size
    return out
