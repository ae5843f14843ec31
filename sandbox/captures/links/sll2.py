"""LINKTYPE_LINUX_SLL2 (276): Linux "cooked" capture v2, 20-byte header, protocol at offset 0."""

from __future__ import annotations


def network(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[0:2], "big"), 20
