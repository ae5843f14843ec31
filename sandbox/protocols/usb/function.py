"""What a USB class decoder is (``UsbFunction``) and what it is handed (``Transfer``).

The device parser (``sandbox.protocols.usb.device``) reads the descriptors, gives each interface the
first registered function that ``claims`` it (an endpoint no descriptor described goes to the first
whose ``detect`` recognises its first OUT transfer), and hands it every transfer on its endpoints
and every class request addressed to its interfaces.  A function turns OUT data into Payloads
(chain ``usb 3.6 > msc > ...``) or into Segments it hands back to the flow table
(``FlowContext.inject``: Ethernet frames of a USB network adapter); IN data is context only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.usb.descriptors import Interface

Items = list[Payload | Observation]


@dataclass(slots=True)
class Transfer:
    """One USB transfer's data as a function sees it.

    ``length`` is what the transfer carried (``len(data)`` unless the capture cut it); ``setup`` is
    the 8-byte request of a control transfer (empty otherwise); ``frame`` where it is in the capture.
    """

    direction: str          # "out": host -> device, what may leak; "in": context
    endpoint: int           # address, bit 7 = IN
    kind: str               # "bulk", "interrupt", "control", "isochronous"
    data: bytes
    t: float
    length: int = -1
    setup: bytes = b""
    frame: int = 0

    def __post_init__(self) -> None:
        if self.length < 0:
            self.length = len(self.data)

    @property
    def cut(self) -> int:
        """Bytes of this transfer the capture did not keep."""
        return max(0, self.length - len(self.data))


class UsbFunction(Protocol):
    """A class decoder, one per function (interface or CDC union) of a device.

    ``claims`` says from an interface descriptor that it is this function's; ``detect`` says so from
    the first OUT transfer of an endpoint nothing described (a capture started after enumeration).
    ``transfer`` gets every transfer on the function's endpoints (and control requests to its
    interfaces); ``idle`` when the device went quiet (hand over what is held), ``close`` at the end.
    A function that raises is replaced by the raw one for the rest of the device's life on that
    endpoint: its OUT bytes still reach the correlator.
    """

    name: ClassVar[str]

    @staticmethod
    def claims(interface: Interface) -> bool: ...

    @staticmethod
    def detect(data: bytes) -> bool: ...

    def __init__(self, ctx: FlowContext) -> None: ...

    def transfer(self, tr: Transfer) -> Items: ...

    def idle(self, t: float) -> Items: ...

    def close(self, t: float) -> Items: ...
