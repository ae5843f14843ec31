"""The target of a SOCKS CONNECT request: where a SOCKS proxy was asked to connect (RFC 1928, SOCKS4a).

The flow table reads it from the first bytes of a raw lane (the SOCKS exchange before TLS or HTTP),
as a name the proxy vouches for (``FlowContext.named(..., proxied=True)``).  Strict shapes only: a
request whose length is exactly what its fields say, optionally after a version-5 greeting sent in
the same segment.
"""

from __future__ import annotations

import ipaddress


def socks_target(data: bytes) -> str | None:
    """The host of the SOCKS4/4a/5 CONNECT request ``data`` is, or None."""
    if len(data) >= 3 and data[0] == 5 and data[1] and len(data) > 2 + data[1] and data[2 + data[1]] == 5:
        data = data[2 + data[1]:]                 # a greeting and the request in one segment
    if len(data) >= 10 and data[:3] == b"\x05\x01\x00":
        atyp = data[3]
        if atyp == 1 and len(data) == 10:
            return str(ipaddress.IPv4Address(data[4:8]))
        if atyp == 4 and len(data) == 22:
            return str(ipaddress.IPv6Address(data[4:20]))
        if atyp == 3 and len(data) == 7 + data[4] and data[4]:
            return data[5:5 + data[4]].decode("latin-1")
        return None
    if len(data) >= 9 and data[:2] == b"\x04\x01" and data.endswith(b"\x00"):
        fields = data[8:-1].split(b"\x00")
        if data[4:7] == b"\x00\x00\x00" and data[7]:          # 4a: the user id, then the name
            return fields[1].decode("latin-1") if len(fields) == 2 and fields[1] else None
        if len(fields) == 1:
            return str(ipaddress.IPv4Address(data[4:8]))
    return None
