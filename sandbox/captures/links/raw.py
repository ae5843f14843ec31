"""LINKTYPE_RAW (101, and DLT 12/14 as written by some BSDs): bare IPv4 or IPv6, by version nibble."""

from __future__ import annotations

from sandbox.captures.numbers import by_version


def network(data: bytes) -> tuple[int, int]:
    return by_version(data, 0), 0
