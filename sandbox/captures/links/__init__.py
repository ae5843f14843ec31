"""Link types: one module each, registered in ``LINKTYPES`` (pcap LINKTYPE value -> module).

A module either exposes ``network(data) -> (ethertype, offset)`` for links that carry IP, or
``segments(data, t, frame) -> list[Segment]`` for links that carry something else (USB); with
``PER_INTERFACE = True`` it is called ``segments(data, t, frame, interface)`` with the pcapng
interface (``name``, ``description``, ``speed``; None in classic pcap), e.g. a serial line's port.
"""

from __future__ import annotations

from types import ModuleType

from sandbox.captures.links import (
    ethernet,
    ipv4,
    ipv6,
    loop,
    null,
    raw,
    rtacserial,
    sll,
    sll2,
    usbmon,
    usbmon48,
    usbpcap,
)

LINKTYPES: dict[int, ModuleType] = {
    0: null,
    1: ethernet,
    12: raw,        # DLT_RAW on OpenBSD/most BSDs when written without LINKTYPE mapping
    14: raw,        # DLT_RAW on BSD/OS
    101: raw,
    108: loop,
    113: sll,
    189: usbmon48,
    220: usbmon,
    228: ipv4,
    229: ipv6,
    249: usbpcap,
    250: rtacserial,   # LINKTYPE_RTAC_SERIAL: the serial bridge's recordings
    276: sll2,
}
