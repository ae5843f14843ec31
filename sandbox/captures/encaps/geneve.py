"""Geneve (RFC 8926; UDP 6081): 8 bytes, variable options, then what its protocol type names.

Version 0 only; the protocol type is an ethertype (0x6558 Ethernet, or IPv4/IPv6 directly).
"""

from __future__ import annotations

from sandbox.captures.encaps.header import Header
from sandbox.captures.numbers import DECLINED, UDP_PORT

GENEVE = Header("geneve", ("version_options", "B"), ("flags", "B"), ("protocol", "H"), ("vni", "I"))


def decap(data: bytes, off: int) -> tuple[int, int]:
    if len(data) - off < GENEVE.size or data[off] >> 6:
        return DECLINED, off
    header = GENEVE.unpack(data, off)
    return header.protocol, off + GENEVE.size + (header.version_options & 0x3F) * 4


REGISTER = {UDP_PORT | 6081: decap}
