"""The protocol number space: loopback address families and version nibbles."""

from __future__ import annotations

from sandbox.captures.numbers import FAMILY, IPV4, IPV6, NOT_IP, by_version, from_family


def test_families_and_versions():
    assert [from_family(f) for f in (2, 10, 24, 28, 30)] == [IPV4] + [IPV6] * 4
    assert from_family(7) == FAMILY | 7
    assert [by_version(b, 0) for b in (b"\x45", b"\x60", b"\x10", b"")] == [IPV4, IPV6, NOT_IP, NOT_IP]
