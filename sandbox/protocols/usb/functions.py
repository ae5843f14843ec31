"""The registered USB class decoders (see ``sandbox.protocols.usb``): one line each.

Order matters: the first function that claims an interface (or detects an undescribed endpoint's
first OUT transfer) gets it.  Kept apart from the package so the device parser reads the list at
construction without importing its own package.
"""

from __future__ import annotations

from sandbox.protocols.usb.acm import CdcAcmFunction
from sandbox.protocols.usb.ecm import CdcEcmFunction
from sandbox.protocols.usb.msc import MassStorageFunction
from sandbox.protocols.usb.ncm import CdcNcmFunction
from sandbox.protocols.usb.raw import HidFunction
from sandbox.protocols.usb.rndis import RndisFunction

FUNCTIONS: list[type] = [
    MassStorageFunction,  # class 08; by content: a 31-byte "USBC" command block wrapper
    RndisFunction,  # 02/02/FF, E0/01/03, EF/04/01; by content: REMOTE_NDIS_PACKET_MSGs filling the transfer
    CdcNcmFunction,  # 02/0D; by content: an "NCMH"/"ncmh" transfer block
    CdcEcmFunction,  # 02/06; by content: an Ethernet frame carrying IPv4, IPv6 or ARP
    CdcAcmFunction,  # 02/02 (never by content: a serial stream has no signature)
    HidFunction,  # 03: reports IN are context, OUT reports go raw
]
