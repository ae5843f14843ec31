"""Serial lines: the line parser every serial flow gets, and the file transfers it decodes.

A new transfer protocol is one module with a ``Transfer`` class (``transfer.py`` says what it is)
plus one line in ``registry.TRANSFERS``; ``tests/protocols/test_serial_parsers_conformance.py`` runs
the same truncation, garbage and split-at-every-byte tests on each.
"""

from __future__ import annotations

from sandbox.protocols.serial.line import SerialLineParser
from sandbox.protocols.serial.registry import TRANSFERS

__all__ = ["TRANSFERS", "SerialLineParser"]
