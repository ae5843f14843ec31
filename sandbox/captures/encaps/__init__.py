"""Encapsulations: one module each, registered once in ``DECAPS`` (protocol number -> decapsulator).

A module declares ``REGISTER = {number: decap}``: the numbers (``sandbox.captures.numbers``: an
ethertype, ``IP_PROTO | n``, ``UDP_PORT | port``, a frame kind) that announce it, and for each a
``decap(data, off) -> (next number, offset of what follows)``.  ``IpDecoder`` peels layers by
looking the next number up here until it reaches IP, or a number nobody decapsulates (then
``examined.py`` says whether that could carry data).  A decapsulator registered on a UDP port
answers ``DECLINED`` for a payload that is not its own, which then stays a UDP flow.  A decapsulator
raises (``struct.error``, ``IndexError``, ``ValueError``) on a header cut short or malformed.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from sandbox.captures.encaps import (
    cmd,
    erspan,
    ethernet,
    geneve,
    gre,
    gtpu,
    ipip,
    llc,
    mpls,
    ppp,
    pppoe,
    teredo,
    vxlan,
    wlan,
)

Decap = Callable[[bytes, int], tuple[int, int]]

MODULES: list[ModuleType] = [ethernet, llc, wlan, ppp, pppoe, mpls, cmd, gre, erspan, ipip, vxlan, geneve,
                             gtpu, teredo]


def _registry(modules: list[ModuleType]) -> dict[int, Decap]:
    table: dict[int, Decap] = {}
    for module in modules:
        for number, decap in module.REGISTER.items():
            if number in table:
                raise RuntimeError(f"protocol number 0x{number:x} registered twice ({module.__name__})")
            table[number] = decap
    return table


DECAPS: dict[int, Decap] = _registry(MODULES)
