"""Link types: one module each, registered in ``LINKTYPES`` (pcap LINKTYPE value -> module).

A module either exposes ``network(data) -> (protocol number, offset)`` for links that carry IP
(directly or through LLC, PPP, 802.11...; numbers as in ``sandbox.captures.numbers``), or
``segments(data, t, frame) -> list[Segment]`` for links that carry something else (USB);
with ``PER_INTERFACE = True`` it is called ``segments(data, t, frame, interface)`` with the pcapng
interface (``name``, ``description``, ``speed``; None in classic pcap), e.g. a serial line's port.
A link that says where the capturing host saw a packet also exposes ``side(data) -> dict``, merged into
the meta of the Segments found in it (``{"arrived": interface}`` or ``{"left": interface}``).
"""

from __future__ import annotations

from types import ModuleType

from sandbox.captures.links import (
    arcnet,
    arcnet_linux,
    ethernet,
    ieee80211,
    ipv4,
    ipv6,
    loop,
    nflog,
    null,
    pktap,
    ppp,
    ppp_hdlc,
    pppoe,
    proxied,
    radiotap,
    raw,
    rtacserial,
    slip,
    sll,
    sll2,
    usbmon,
    usbmon48,
    usbpcap,
)

LINKTYPES: dict[int, ModuleType] = {
    0: null,
    1: ethernet,
    7: arcnet,
    8: slip,
    9: ppp,
    12: raw,        # DLT_RAW on OpenBSD/most BSDs when written without LINKTYPE mapping
    14: raw,        # DLT_RAW on BSD/OS
    50: ppp_hdlc,
    51: pppoe,
    101: raw,
    104: ppp_hdlc,  # Cisco HDLC
    105: ieee80211,
    108: loop,
    113: sll,
    127: radiotap,
    129: arcnet_linux,
    162: proxied,   # LINKTYPE_USER15: the network tap's plaintext feed (hw/net)
    189: usbmon48,
    220: usbmon,
    228: ipv4,
    229: ipv6,
    239: nflog,
    249: usbpcap,
    250: rtacserial,   # LINKTYPE_RTAC_SERIAL: the serial bridge's recordings
    258: pktap,
    276: sll2,
}
