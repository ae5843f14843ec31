"""LINKTYPE_IEEE802_11 (105): 802.11 MAC frames as a monitor-mode interface hands them over.

Frames may or may not end with the 4-byte FCS (the link type does not say); the IP length inside
trims it, as it trims Ethernet padding.
"""

from __future__ import annotations

from sandbox.captures.numbers import WLAN


def network(data: bytes) -> tuple[int, int]:
    return WLAN, 0
