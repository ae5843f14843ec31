"""LINKTYPE_IPV4 (228): bare IPv4 packets."""

from __future__ import annotations

from sandbox.captures.numbers import IPV4


def network(data: bytes) -> tuple[int, int]:
    return IPV4, 0
