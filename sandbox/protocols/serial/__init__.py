"""Serial lines: the line parser every serial flow gets, and the file transfers it decodes.

A new transfer protocol is one module with a ``Transfer`` class (``transfer.py`` says what it is)
plus one line in ``TRANSFERS`` (``transfers.py``); ``tests/protocols/test_serial_parsers_conformance.py`` runs the
same truncation, garbage and split-at-every-byte tests on each.  Order matters only when two find a
start at the same place.
"""

from __future__ import annotations

from sandbox.protocols.serial.line import SerialLineParser
from sandbox.protocols.serial.transfers import TRANSFERS

__all__ = ["TRANSFERS", "SerialLineParser"]
