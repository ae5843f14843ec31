"""LINKTYPE_LOOP (108): OpenBSD loopback, a 4-byte address family in network byte order."""

from __future__ import annotations

from sandbox.captures.numbers import from_family


def network(data: bytes) -> tuple[int, int]:
    return from_family(int.from_bytes(data[0:4], "big")), 4
