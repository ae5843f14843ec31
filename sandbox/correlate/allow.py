"""The bench allow-list: hostnames (with their subdomains), IP addresses and CIDR networks.

A name is the instrument's word: a TLS server name or an HTTP Host can name the allowed LIMS while
the bytes go to any address.  So a flow is allowed by name only when its address is vouched for an
allowed name by someone the rig trusts: a DNS answer the instrument was given by a resolver on the
bench's own networks or on the list (``sandbox.protocols.resolved``), or a proxy there (the rig's
own, in regular and SOCKS mode) that was asked to connect to that name.  And every name the flow
claims must be allowed: an allowed address does not make an unlisted Host on it allowed, unless the
list holds the address itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from sandbox.model import BENCH_NETWORKS, FlowInfo


def _host(value: str) -> str:
    """``value`` without port, brackets or trailing dot, lower-cased ("[::1]:443" -> "::1")."""
    v = (value or "").strip().lower()
    if v.startswith("["):
        return v[1: v.find("]")] if "]" in v else v[1:]
    if v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v.rstrip(".")


@dataclass(frozen=True, slots=True)
class FlowJudgement:
    """What the allow-list says of one flow (``AllowList.judge``)."""

    allowed: bool
    name: str                    # what findings on it are named by
    claimed: list[str]           # the names its bytes claim to go to
    unvouched: frozenset[str]    # of those (as hosts), the ones nobody the rig trusts vouched for its address
    unverified: bool = False     # not allowed, though every name it claims is: nobody vouched for its address


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
        """Whether ``info`` goes where the list allows (``judge``)."""
        return self.judge(info).allowed

    def judge(self, info: FlowInfo) -> FlowJudgement:
        """What the list says of ``info``, its names and its address read once.

        Allowed: its address is on the list; or every name it claims (SNI, Host, :authority, what it
        asked a proxy for) is, and its address is vouched for one of them (``vouched``).  USB and
        serial flows: any name or address of theirs on the list.  A flow not allowed is named by its
        destination, else by a name it claims that is not allowed, else by where its bytes went
        (``where``): never by an allowed name, which the acceptance profile would waive it by."""
        net = info.channel == "net"
        claimed = self.claimed(info)
        vouched = self.vouched(info) if net and (claimed or self) else []
        unvouched = frozenset({_host(n) for n in claimed} - {_host(n) for n in vouched}) if net else frozenset()
        all_claimed = all(self.allows(n) for n in claimed)
        if not net or not is_address(info.dst):
            allowed = any(self.allows(str(n)) for n in (info.destination, info.dst, *claimed) if n)
        else:
            allowed = self.allows(info.dst) or (not info.meta.get("names_more") and all_claimed
                                                and any(self.allows(n) for n in vouched))
        name = info.destination or info.dst
        if not allowed and self.allows(name):
            unlisted = [n for n in claimed if not self.allows(n)]
            name = unlisted[0] if unlisted else self.where(info)
        return FlowJudgement(allowed, name, claimed, unvouched,
                             unverified=net and not allowed and bool(claimed) and all_claimed)

    def where(self, info: FlowInfo) -> str:
        """Where ``info``'s bytes went as far as the rig can tell: the name a proxy it trusts was asked
        for, else the address."""
        proxied = info.meta.get("proxied") or []
        return str(proxied[0]) if proxied and self.trusts(info.dst) else info.dst

    @staticmethod
    def claimed(info: FlowInfo) -> list[str]:
        """The names ``info``'s bytes claim to go to (its address aside)."""
        meta = info.meta
        names = [*meta.get("names", ()), *meta.get("proxied", ()), meta.get("sni", ""), meta.get("host", ""),
                 info.destination]
        return [str(n) for n in dict.fromkeys(names) if n and _host(str(n)) != _host(info.dst)]

    def vouched(self, info: FlowInfo) -> list[str]:
        """Names the address of ``info`` is vouched for: by DNS answers from trusted resolvers, and, when
        its far end is a trusted proxy, by what it was asked to connect to."""
        names = [str(name) for name, resolver in info.meta.get("resolved", ()) if self.trusts(str(resolver))]
        if self.trusts(info.dst):
            names += [str(n) for n in info.meta.get("proxied", ())]
        return names

    def trusts(self, address: str) -> bool:
        """Whether what a resolver or proxy at ``address`` says about names is believed: it is on the
        bench's own networks or on the list."""
        host = _host(address)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in BENCH_NETWORKS) or self.allows(host)


def is_address(value: str) -> bool:
    """Whether ``value`` is an IP address (with or without a port), not a name."""
    try:
        ipaddress.ip_address(_host(value))
    except ValueError:
        return False
    return True
