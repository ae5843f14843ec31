"""Network-layer protocol numbers the IP decoder understands (Ethernet type values)."""

from __future__ import annotations

IPV4 = 0x0800
IPV6 = 0x86DD
# BSD address families for IPv6 differ by OS (Linux 10, FreeBSD 28, macOS 30, NetBSD/OpenBSD 24).
AF_INET = 2
AF_INET6 = frozenset((10, 24, 28, 30))


def from_family(family: int) -> int:
    return IPV4 if family == AF_INET else IPV6 if family in AF_INET6 else 0
