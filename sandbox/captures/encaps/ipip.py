"""IP in IP: IPv4 or IPv6 carried as IP protocol 4 (RFC 2003) or 41 (6in4, 4in6, 6in6; RFC 4213).

The inner packet is read by its version nibble, whichever number announced it (as Linux does for
ip6tnl "any" mode): a tunnel that says 4 and carries 6 is still read.
"""

from __future__ import annotations

from sandbox.captures.numbers import IP_PROTO, by_version


def decap(data: bytes, off: int) -> tuple[int, int]:
    return by_version(data, off), off


REGISTER = {IP_PROTO | 4: decap, IP_PROTO | 41: decap}
