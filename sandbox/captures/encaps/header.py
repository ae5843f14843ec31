"""A fixed-size header declared as data, dpkt style: ``(field, struct format)`` pairs, network order.

    GRE = Header("gre", ("flags", "H"), ("protocol", "H"))
    flags, protocol = GRE.unpack(data, off)          # a named tuple: .flags, .protocol

One ``struct`` unpack per header, so a decapsulator is a few lines of arithmetic on named fields.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from typing import Any


class Header:
    __slots__ = ("name", "size", "_struct", "_fields")

    def __init__(self, name: str, *fields: tuple[str, str]) -> None:
        self.name = name
        self._struct = struct.Struct("!" + "".join(fmt for _, fmt in fields))
        self._fields = namedtuple(name, [field for field, _ in fields])  # type: ignore[misc]
        self.size = self._struct.size

    def unpack(self, data: bytes, off: int = 0) -> Any:
        """The header at ``off`` as a named tuple; ``struct.error`` if the data is too short."""
        return self._fields._make(self._struct.unpack_from(data, off))
