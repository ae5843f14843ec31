"""The bench allow-list: hostnames (with their subdomains), IP addresses and CIDR networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sandbox.model import FlowInfo


def _host(value: str) -> str:
    """``value`` without port, brackets or trailing dot, lower-cased ("[::1]:443" -> "::1")."""
    v = (value or "").strip().lower()
    if v.startswith("["):
        return v[1: v.find("]")] if "]" in v else v[1:]
    if v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v.rstrip(".")


class AllowList:
    def __init__(self, entries: Iterable[str] = ()):
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.hosts: list[str] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.append(_host(entry.removeprefix("*.")))

    def __bool__(self) -> bool:
        return bool(self.networks or self.hosts)

    def allows(self, value: str) -> bool:
        """True if a hostname, IP or "host:port" is on the list (a listed host covers its subdomains)."""
        host = _host(value)
        if not host:
            return False
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return any(host == h or host.endswith("." + h) for h in self.hosts)
        return any(ip in net for net in self.networks)

    def allows_flow(self, info: FlowInfo) -> bool:
        """A flow is allowed when its destination, address, TLS SNI or HTTP Host is on the list."""
        names = [info.destination, info.dst, info.meta.get("sni", ""), info.meta.get("host", "")]
        return any(self.allows(str(n)) for n in names if n)
