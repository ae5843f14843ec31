"""LINKTYPE_PPP_ETHER (51): PPPoE session frames without their Ethernet header (BSD's ppp over ether)."""

from __future__ import annotations

from sandbox.captures.encaps.pppoe import PPPOE_SESSION


def network(data: bytes) -> tuple[int, int]:
    return PPPOE_SESSION, 0
