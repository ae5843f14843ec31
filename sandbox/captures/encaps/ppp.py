"""PPP frames (RFC 1661): on PPP links, in PPPoE sessions, in GRE (PPTP) and L2TP.

An optional HDLC address and control (FF 03, RFC 1662) come first, then the protocol field: two
bytes, or one when protocol-field compression left only an odd byte (RFC 1661 6.5).  The network
protocols that carry user data map to the ethertype space; the rest stay PPP numbers (control
protocols, compressed or encrypted datagrams), which ``examined.py`` judges.
"""

from __future__ import annotations

from sandbox.captures.numbers import IPV4, IPV6, PPP, PPP_CONTROL_LONG, PPP_PROTO

HDLC_ADDRESS_CONTROL = b"\xff\x03"
TO_ETHERTYPE = {
    0x0021: IPV4,
    0x0057: IPV6,
    0x0281: 0x8847,     # MPLS unicast
    0x0283: 0x8848,     # MPLS multicast
}


# Control protocols (LCP, PAP, LQR, CHAP, EAP, IPCP, IPV6CP, CCP, MPLSCP) and the longest packet of
# theirs taken for control: options, a challenge, a name, a keep-alive.  A longer one carries bytes of
# its sender's choice that reach the peer (an echo's or discard request's data, a reject quoting what
# it rejects, EAP) and the peer may be the vendor's end of a PPTP or L2TP tunnel: not examined.
CONTROL = frozenset((0xC021, 0xC023, 0xC025, 0xC223, 0xC227, 0x8021, 0x8057, 0x80FD, 0x8281))
MAX_CONTROL = 128


def decap(data: bytes, off: int) -> tuple[int, int]:
    if data[off:off + 2] == HDLC_ADDRESS_CONTROL:
        off += 2
    if data[off] & 0x01:          # compressed: a one-byte protocol (always odd)
        protocol, off = data[off], off + 1
    else:
        protocol, off = int.from_bytes(data[off:off + 2], "big"), off + 2
    if protocol in CONTROL and len(data) - off > MAX_CONTROL:
        return PPP_CONTROL_LONG, off
    return TO_ETHERTYPE.get(protocol, PPP_PROTO | protocol), off


REGISTER = {PPP: decap}
