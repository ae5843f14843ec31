"""Serial lines: the line parser every serial flow gets, the file transfers it decodes and the
network links (PPP, SLIP) whose IP packets it hands to the flow table.

A new transfer protocol is one module with a ``Transfer`` class (``transfer.py`` says what it is)
plus one line in ``registry.TRANSFERS``; ``tests/protocols/test_serial_parsers_conformance.py`` runs
the same truncation, garbage and split-at-every-byte tests on each.  A new link is one module with a
``link.FramedLink`` plus one line in ``registry.LINKS``, under ``test_serial_links_conformance.py``.
"""

from __future__ import annotations

from sandbox.protocols.serial.line import SerialLineParser
from sandbox.protocols.serial.registry import LINKS, TRANSFERS

__all__ = ["LINKS", "TRANSFERS", "SerialLineParser"]
