"""LINKTYPE_SLIP (8): BSD SLIP, a 16-byte pseudo-header (direction, compressed-header type and the
compressed header itself), then the IP packet as it was before compression (tcpdump's print-sl.c).

A Van Jacobson compressed packet whose IP header is not restored after the pseudo-header is said,
not guessed.
"""

from __future__ import annotations

from sandbox.captures.numbers import NOT_IP, SLIP_COMPRESSED, by_version

HEADER = 16
TYPE_COMPRESSED_TCP = 0x80


def network(data: bytes) -> tuple[int, int]:
    proto = by_version(data, HEADER)
    if proto == NOT_IP and data[1] & TYPE_COMPRESSED_TCP:
        return SLIP_COMPRESSED, HEADER
    return proto, HEADER
