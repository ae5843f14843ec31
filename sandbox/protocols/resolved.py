"""Which names the DNS answers the instrument received gave each address, and which resolver said so.

A TLS server name or an HTTP Host is the instrument's claim: it can name the allowed LIMS while its
bytes go to any address.  An address is vouched for a name only by an answer the instrument was
given (the allow-list then decides which resolvers it trusts: ``AllowList.allows_flow``).  Kept in
the Dissector's shared state; a new flow's record carries the names its address was resolved from
(``meta["resolved"]``: [name, resolver] pairs), so the judgement needs nothing else.

Bounded: ``MAX_ADDRESSES`` addresses (least recently answered let go), ``MAX_NAMES`` names each.
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from typing import Any

from sandbox.safetext import safe_text

SHARED_KEY = "dns resolved"
MAX_ADDRESSES = 16384
MAX_NAMES = 8            # names one address keeps (a CDN address answers for many; the latest win)
MAX_CHAIN = 8            # CNAME links followed from a question's name
_FAMILIES = {4: socket.AF_INET, 16: socket.AF_INET6}


class Resolutions:
    """Names kept as the wire wrote them (lower case) and made safe text only for a flow that asks:
    a flood of answers costs a dict entry each."""

    def __init__(self) -> None:
        self._by_address: OrderedDict[str, OrderedDict[tuple[bytes, str], None]] = OrderedDict()
        self.overflowed = False     # an address was let go: what later flows carry depends on order

    def addresses(self) -> list[str]:
        """The addresses answered for (an archive replay checks its groups against them)."""
        return list(self._by_address)

    def add(self, address: str, name: bytes, resolver: str) -> None:
        names = self._by_address.get(address)
        if names is None:
            names = self._by_address[address] = OrderedDict()
            if len(self._by_address) > MAX_ADDRESSES:
                self._by_address.popitem(last=False)
                self.overflowed = True
        else:
            self._by_address.move_to_end(address)
        names[(name, resolver)] = None
        names.move_to_end((name, resolver))
        if len(names) > MAX_NAMES:
            names.popitem(last=False)

    def of(self, address: str) -> list[list[str]]:
        """[name, resolver] pairs answered for ``address``, oldest first."""
        names = self._by_address.get(address)
        return [[safe_text(name), resolver] for name, resolver in names] if names else []


def resolutions(shared: dict[str, Any]) -> Resolutions:
    found = shared.get(SHARED_KEY)
    if found is None:
        found = shared[SHARED_KEY] = Resolutions()
    return found


def answered(questions: list[bytes], cnames: dict[bytes, bytes],
             addresses: list[tuple[bytes, bytes]]) -> list[tuple[str, bytes]]:
    """(address, name) pairs one answer vouches for: each question's name, the CNAMEs it leads to, and
    the A/AAAA records at the end of that chain (records off the chain, such as glue, vouch for nothing).
    Names are wire names in lower case; ``addresses``: (owner name, rdata) of the A and AAAA records.
    Addresses are written as the capture readers write them (``inet_ntop``)."""
    out: list[tuple[str, bytes]] = []
    for question in questions:
        chain = [question]
        while chain[-1] in cnames and len(chain) <= MAX_CHAIN and cnames[chain[-1]] not in chain:
            chain.append(cnames[chain[-1]])
        for owner, rdata in addresses:
            if owner in chain and len(rdata) in _FAMILIES:
                address = socket.inet_ntop(_FAMILIES[len(rdata)], rdata)
                out.extend((address, name) for name in chain)
    return out
