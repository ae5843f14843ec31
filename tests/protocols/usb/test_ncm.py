"""CDC-NCM transfer blocks: every datagram of every pointer table goes to the network pipeline; bytes
no table points at are examined raw; a block that does not parse goes raw; hostile tables (loops,
lengths past the block) stay bounded."""

from __future__ import annotations

import struct

from sandbox.model import Payload
from sandbox.protocols.usb.function import Transfer
from sandbox.protocols.usb.ncm import CdcNcmFunction, datagrams
from tests.protocols.usb.ethernet import context, dns_frame, injected


def ntb(frames: list[bytes], gap: bytes = b"", next_ndp: int = 0) -> bytes:
    """NTH16, one NDP16 listing ``frames`` (laid out after it, ``gap`` before the first)."""
    ndp_at = 12
    ndp_len = 8 + 4 * (len(frames) + 1)
    at = ndp_at + ndp_len + len(gap)
    entries, body = b"", b""
    for f in frames:
        entries += struct.pack("<HH", at, len(f))
        body += f
        at += len(f)
    ndp = struct.pack("<4sHH", b"NCM0", ndp_len, next_ndp) + entries + bytes(4)
    block = ndp + gap + body
    return struct.pack("<4sHHHH", b"NCMH", 12, 1, 12 + len(block), ndp_at) + block


def test_every_datagram_is_a_frame():
    frames = [dns_frame(n) for n in range(4)]
    block = ntb(frames)
    found, headers = datagrams(block)
    assert [block[o:o + n] for o, n in found] == frames and headers[0] == (0, 12)
    assert CdcNcmFunction.detect(block)
    ctx = context("cdc-ncm")
    out = CdcNcmFunction(ctx).transfer(Transfer("out", 0x02, "bulk", block, 1.0))
    assert [s.sport for s in injected(ctx)] == [5000, 5001, 5002, 5003]
    assert not [p for p in out if isinstance(p, Payload)]


def test_bytes_no_table_points_at_are_examined():
    ctx = context("cdc-ncm")
    fn = CdcNcmFunction(ctx)
    out = fn.transfer(Transfer("out", 0x02, "bulk", ntb([dns_frame(1)], gap=b"SLACK " * 10), 1.0)) + fn.close(2.0)
    assert b"SLACK " * 10 in b"".join(p.data for p in out if isinstance(p, Payload))


def test_not_a_block_goes_raw_and_hostile_tables_stay_bounded():
    ctx = context("cdc-ncm")
    fn = CdcNcmFunction(ctx)
    out = fn.transfer(Transfer("out", 0x02, "bulk", b"NCMH not a block at all", 1.0)) + fn.close(2.0)
    assert b"".join(p.data for p in out if isinstance(p, Payload)) == b"NCMH not a block at all"
    looped = ntb([dns_frame(1)], next_ndp=12)           # the table points back at itself
    found, headers = datagrams(looped)
    assert len(found) == 16 and len(headers) == 17      # MAX_NDPS tables, then it stops
    huge = struct.pack("<4sHHHH", b"NCMH", 12, 1, 60, 12) + struct.pack("<4sHH", b"NCM0", 0xFFFF, 0) + \
        struct.pack("<HH", 40, 0xFFFF) + bytes(40)
    ctx = context("cdc-ncm")
    CdcNcmFunction(ctx).transfer(Transfer("out", 0x02, "bulk", huge, 1.0))
    assert [len(s.data) for s in injected(ctx)] in ([], [0])
