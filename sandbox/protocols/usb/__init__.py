"""USB: the device parser every USB flow gets, and the class decoders (functions) it hands bytes to.

A new class decoder is one module with a ``UsbFunction`` class (``function.py`` says what it is)
plus one line in ``FUNCTIONS`` (``functions.py``); ``tests/protocols/usb/test_functions_conformance.py``
runs the same garbage, truncation, re-split and never-blind tests on each.  File systems read on
mass storage are listed the same way in ``volumes.VOLUMES``.
"""

from __future__ import annotations

from sandbox.protocols.usb.device import UsbDeviceParser
from sandbox.protocols.usb.functions import FUNCTIONS

__all__ = ["FUNCTIONS", "UsbDeviceParser"]
