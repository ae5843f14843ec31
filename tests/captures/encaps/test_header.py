"""The declarative header: named fields in network order, one unpack, a clear error when cut short."""

from __future__ import annotations

import struct

import pytest

from sandbox.captures.encaps.header import Header


def test_fields_by_name_at_an_offset():
    header = Header("demo", ("flags", "B"), ("length", "H"), ("id", "I"))
    assert header.size == 7
    parsed = header.unpack(b"\xff" + bytes([0x80, 0x01, 0x02, 0, 0, 0, 9]), 1)
    assert (parsed.flags, parsed.length, parsed.id) == (0x80, 0x0102, 9)
    with pytest.raises(struct.error):
        header.unpack(b"\x01\x02", 0)
