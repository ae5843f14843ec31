"""The sessions a serial line looks for, file transfers and network links: one line each
(``transfer.py`` says what one is).

Order matters only when two find a start at the same place.
"""

from __future__ import annotations

from sandbox.protocols.serial.ppp import PppLink
from sandbox.protocols.serial.slip import SlipLink
from sandbox.protocols.serial.xmodem import XmodemTransfer
from sandbox.protocols.serial.zmodem import ZmodemTransfer

TRANSFERS: list[type] = [
    ZmodemTransfer,  # a CRC-verified ZRQINIT/ZRINIT/ZSINIT/ZFILE/ZDATA header
    XmodemTransfer,  # a CRC-verified block (block 0: a YMODEM header), or block 1 by checksum
]

# The network links a line may carry (the same interface, ``link.FramedLink``): their IP packets go to
# the flow table as captured traffic.
LINKS: list[type] = [
    PppLink,         # an FCS-verified frame opening a PPP link (or of one picked up midway)
    SlipLink,        # a packet between END bytes whose IP header checksum and length verify
]
