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
from collections.abc import Iterator

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


def option_spans(tcp: bytes, doff: int) -> Iterator[tuple[int, int, int]]:
    """Each option of a TCP header of ``doff`` bytes: (kind, where its value starts, where its length
    says it ends); an end of the list as (0, after it, the header's end), and a length that is none
    (under 2) as (-1, after the kind, the header's end): what follows either is the sender's too."""
    at, end = 20, min(doff, len(tcp))
    while at < end:
        kind = tcp[at]
        if kind == 1:
            at += 1
            continue
        size = tcp[at + 1] if at + 1 < end and kind else 0
        if size < 2:
            yield (0 if kind == 0 else -1), at + 1, end
            return
        yield kind, at + 2, at + size
        at += size


def tcp_options(tcp: bytes, doff: int) -> bytes:
    """The record's part from a TCP header's options (``doff`` bytes of header): the timestamps (value and
    echo, zeros without the option), then the values of every other option but padding, in a row."""
    stamps, values = NO_TIMESTAMPS, b""
    end = min(doff, len(tcp))
    for kind, start, stop in option_spans(tcp, doff):
        if kind == 0:
            break
        value = bytes(tcp[start:min(stop, end)])
        if kind == TIMESTAMP_KIND and stop - start == TIMESTAMP_SIZE - 2 and stamps is NO_TIMESTAMPS and len(value) == 8:
            stamps = value
        else:
            values += value
    return stamps + values


def fields(transport: str, v6: bool) -> tuple[tuple[str, int], ...]:
    """The record's fields of a Segment of ``transport``, in order: (name, size in bytes); a TCP record's
    option values follow them."""
    return (IP_FIELDS_V6 if v6 else IP_FIELDS_V4) + TRANSPORT_FIELDS.get(transport, ())


def columns(records: bytes | bytearray, spec: tuple[tuple[str, int], ...]) -> list[tuple[str, int, bytes]]:
    """Each field's name, size and values over ``records`` (whole records of the fields ``spec`` names,
    ``fields``' and any after them), in packet order."""
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
