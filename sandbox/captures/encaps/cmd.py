"""Cisco MetaData (ethertype 0x8909; TrustSec security group tags): 8 bytes around an ethertype.

On Ethernet the ethertype closes the header; inside GRE it opens it (Wireshark's
packet-cisco-metadata.c: dissect_cmd_eth, dissect_cmd_gre), so ``gre.py`` names the GRE case
``CMD_IN_GRE``.
"""

from __future__ import annotations

from sandbox.captures.encaps.header import Header
from sandbox.captures.numbers import CMD_IN_GRE

ON_ETHERNET = Header("cmd", ("version", "B"), ("length", "B"), ("options", "H"), ("sgt", "H"), ("ethertype", "H"))
IN_GRE = Header("cmd_gre", ("ethertype", "H"), ("version", "B"), ("length", "B"), ("options", "H"), ("sgt", "H"))


def decap_ethernet(data: bytes, off: int) -> tuple[int, int]:
    return ON_ETHERNET.unpack(data, off).ethertype, off + ON_ETHERNET.size


def decap_gre(data: bytes, off: int) -> tuple[int, int]:
    return IN_GRE.unpack(data, off).ethertype, off + IN_GRE.size


REGISTER = {0x8909: decap_ethernet, CMD_IN_GRE: decap_gre}
