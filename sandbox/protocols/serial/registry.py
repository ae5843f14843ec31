"""The transfer decoders a serial line looks for: one line each (``transfer.py`` says what one is).

Order matters only when two find a start at the same place.
"""

from __future__ import annotations

from sandbox.protocols.serial.xmodem import XmodemTransfer
from sandbox.protocols.serial.zmodem import ZmodemTransfer

TRANSFERS: list[type] = [
    ZmodemTransfer,  # a CRC-verified ZRQINIT/ZRINIT/ZSINIT/ZFILE/ZDATA header
    XmodemTransfer,  # a CRC-verified block (block 0: a YMODEM header), or block 1 by checksum
]
