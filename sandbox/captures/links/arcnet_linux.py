"""LINKTYPE_ARCNET_LINUX (129): ARCNET as Linux captures it, with a 2-byte offset after the stations."""

from __future__ import annotations

from sandbox.captures.links.arcnet import after_addresses


def network(data: bytes) -> tuple[int, int]:
    return after_addresses(data, 4)
