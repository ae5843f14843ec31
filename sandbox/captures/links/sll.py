"""LINKTYPE_LINUX_SLL (113): Linux "cooked" capture v1, 16-byte header, protocol at offset 14."""

from __future__ import annotations


def network(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[14:16], "big"), 16
