"""The registered serial transfer decoders (see ``sandbox.protocols.serial``): one line each.

Order matters only when two find a start at the same place.  Kept apart from the package so the
line parser reads the list at construction without importing its own package.
"""

from __future__ import annotations

from sandbox.protocols.serial.xmodem import XmodemTransfer
from sandbox.protocols.serial.zmodem import ZmodemTransfer

TRANSFERS: list[type] = [
    ZmodemTransfer,  # a CRC-verified ZRQINIT/ZRINIT/ZSINIT/ZFILE/ZDATA header
    XmodemTransfer,  # a CRC-verified block (block 0: a YMODEM header), or block 1 by checksum
]
