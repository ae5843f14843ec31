"""VXLAN (RFC 7348; UDP 4789, and 8472 where Linux first put it): an 8-byte header, then Ethernet.

Only a datagram with the I flag (a valid VNI) is read as VXLAN; anything else on those ports stays
a UDP flow, examined as such.
"""

from __future__ import annotations

from sandbox.captures.encaps.header import Header
from sandbox.captures.numbers import DECLINED, TEB, UDP_PORT

VXLAN = Header("vxlan", ("flags", "B"), ("reserved", "3s"), ("vni", "I"))
VNI_VALID = 0x08
ETHERNET_HEADER = 14


def decap(data: bytes, off: int) -> tuple[int, int]:
    if len(data) - off < VXLAN.size + ETHERNET_HEADER or not data[off] & VNI_VALID:
        return DECLINED, off
    return TEB, off + VXLAN.size


REGISTER = {UDP_PORT | 4789: decap, UDP_PORT | 8472: decap}
