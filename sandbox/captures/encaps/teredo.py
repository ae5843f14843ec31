"""Teredo (RFC 4380; UDP 3544): IPv6 carried over UDP/IPv4 through NATs.

An IPv6 packet, optionally after an authentication indicator (00 01, client id and auth value
lengths, nonce, confirmation) and an origin indication (00 00, 6 bytes).  A datagram that is not
IPv6 after them (the bubbles and qualification traffic are IPv6 too) stays UDP.
"""

from __future__ import annotations

from sandbox.captures.numbers import DECLINED, IPV6, UDP_PORT

AUTHENTICATION = b"\x00\x01"
ORIGIN = b"\x00\x00"
ORIGIN_SIZE = 8
IPV6_HEADER = 40


def decap(data: bytes, off: int) -> tuple[int, int]:
    if data[off:off + 2] == AUTHENTICATION and len(data) - off >= 4:
        off += 4 + data[off + 2] + data[off + 3] + 9    # + nonce (8) and confirmation (1)
    if data[off:off + 2] == ORIGIN:
        off += ORIGIN_SIZE
    if len(data) - off < IPV6_HEADER or data[off] >> 4 != 6:
        return DECLINED, off
    if int.from_bytes(data[off + 4:off + 6], "big") + IPV6_HEADER > len(data) - off:
        return DECLINED, off          # a payload length past the datagram: not an IPv6 packet
    return IPV6, off


REGISTER = {UDP_PORT | 3544: decap}
