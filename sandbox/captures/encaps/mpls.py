"""MPLS (ethertypes 0x8847/0x8848, MPLS-in-IP protocol 137): a stack of 4-byte labels, then a payload.

The label stack has no protocol field: what follows the bottom-of-stack label is read from its
first nibble, as Wireshark and Zeek do: 4 IPv4, 6 IPv6, 0 a pseudowire control word (RFC 4385)
and an Ethernet frame.
"""

from __future__ import annotations

from sandbox.captures.numbers import IP_PROTO, IPV4, IPV6, MPLS_TOO_DEEP, NOT_IP, TEB

# Labels followed before giving up: provider networks stack 2-4 (VPN, transport, fast-reroute,
# entropy); RFC 3032 sets no limit, so a longer stack is reported instead of followed.
MAX_LABELS = 8
BOTTOM_OF_STACK = 0x100       # in the third byte of a label entry
CONTROL_WORD = 4


def decap(data: bytes, off: int) -> tuple[int, int]:
    for _ in range(MAX_LABELS):
        bottom = data[off + 2] & 0x01
        off += 4
        if bottom:
            break
    else:
        return MPLS_TOO_DEEP, off
    nibble = data[off] >> 4
    if nibble == 4:
        return IPV4, off
    if nibble == 6:
        return IPV6, off
    if nibble == 0:
        return TEB, off + CONTROL_WORD
    return NOT_IP, off


REGISTER = {0x8847: decap, 0x8848: decap, IP_PROTO | 137: decap}
