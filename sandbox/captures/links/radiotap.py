"""LINKTYPE_IEEE802_11_RADIOTAP (127): a radiotap header (radio metadata), then an 802.11 frame.

Version 0, a pad byte, the header length (little-endian, covers every radiotap field), then
the present bitmaps: the 802.11 frame starts at the header length.
"""

from __future__ import annotations

import struct

from sandbox.captures.numbers import WLAN

RADIOTAP = struct.Struct("<BBHI")   # version, pad, length, first present word


def network(data: bytes) -> tuple[int, int]:
    version, _, length, _ = RADIOTAP.unpack_from(data)
    if version != 0 or length < RADIOTAP.size:
        raise ValueError(f"radiotap version {version}, length {length}")
    return WLAN, length
