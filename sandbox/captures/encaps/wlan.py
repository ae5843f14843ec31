"""IEEE 802.11 MAC frames: data frames' LLC/SNAP bodies, from monitor captures and Aruba GRE.

Frame control (type, subtype, flags) decides: management and control frames carry no user data;
a data frame's header is 24 bytes, +6 with four addresses (to and from DS), +2 for QoS subtypes,
+4 HT control when a QoS frame has the order flag.  Its body is LLC/SNAP.  What we cannot read is
said, not guessed: protected (encrypted) bodies, A-MSDU aggregates and MSDU fragments.
"""

from __future__ import annotations

from sandbox.captures.numbers import (
    LLC,
    WLAN,
    WLAN_AMSDU,
    WLAN_CONTROL,
    WLAN_FRAGMENT,
    WLAN_MANAGEMENT,
    WLAN_NO_DATA,
    WLAN_PROTECTED,
)

TYPE_MANAGEMENT, TYPE_CONTROL, TYPE_DATA = 0, 1, 2
TO_FROM_DS = 0x03
MORE_FRAGMENTS, PROTECTED, ORDER = 0x04, 0x40, 0x80
SUBTYPE_QOS, SUBTYPE_NO_DATA = 0x8, 0x4
AMSDU_PRESENT = 0x80          # in the first byte of the QoS control field
HEADER = 24


def decap(data: bytes, off: int) -> tuple[int, int]:
    fc, flags = data[off], data[off + 1]
    kind, subtype = (fc >> 2) & 0x03, fc >> 4
    if kind == TYPE_MANAGEMENT:
        return WLAN_MANAGEMENT, off
    if kind != TYPE_DATA:
        return WLAN_CONTROL, off
    if subtype & SUBTYPE_NO_DATA:
        return WLAN_NO_DATA, off
    size = HEADER + (6 if flags & TO_FROM_DS == TO_FROM_DS else 0)
    if subtype & SUBTYPE_QOS:
        if data[off + size] & AMSDU_PRESENT:
            return WLAN_AMSDU, off
        size += 2 + (4 if flags & ORDER else 0)
    if flags & PROTECTED:
        return WLAN_PROTECTED, off
    sequence = int.from_bytes(data[off + 22:off + 24], "little")
    if flags & MORE_FRAGMENTS or sequence & 0x000F:
        return WLAN_FRAGMENT, off
    return LLC, off + size


REGISTER = {WLAN: decap}
