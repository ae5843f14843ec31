"""LINKTYPE_RAW (101, and DLT 12/14 as written by some BSDs): bare IPv4 or IPv6, by version nibble."""

from __future__ import annotations

from sandbox.captures.links.ethertypes import IPV4, IPV6


def network(data: bytes) -> tuple[int, int]:
    version = data[0] >> 4 if data else 0
    return (IPV4 if version == 4 else IPV6 if version == 6 else 0), 0
