"""LINKTYPE_NULL (0): BSD loopback, a 4-byte address family in the *capturing host's* byte order."""

from __future__ import annotations

from sandbox.captures.numbers import from_family


def network(data: bytes) -> tuple[int, int]:
    family = int.from_bytes(data[0:4], "little")
    if family > 0xFFFF:           # written by a big-endian host
        family = int.from_bytes(data[0:4], "big")
    return from_family(family), 4
