"""LINKTYPE_IPV6 (229): bare IPv6 packets."""

from __future__ import annotations

from sandbox.captures.numbers import IPV6


def network(data: bytes) -> tuple[int, int]:
    return IPV6, 0
