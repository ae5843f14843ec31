"""LINKTYPE_PPP_HDLC (50) and LINKTYPE_C_HDLC (104): PPP in HDLC-like framing, or Cisco HDLC.

The first byte tells them apart (RFC 1662 / RFC 1547 4.3.1): 0xFF is PPP (address FF, control 03,
then the PPP protocol field); 0x0F (unicast) or 0x8F (broadcast) is Cisco HDLC, whose address
and control bytes are followed by an ethertype.
"""

from __future__ import annotations

from sandbox.captures.numbers import PPP

CISCO_ADDRESSES = frozenset((0x0F, 0x8F))


def network(data: bytes) -> tuple[int, int]:
    if data[0] in CISCO_ADDRESSES:
        return int.from_bytes(data[2:4], "big"), 4
    return PPP, 0
