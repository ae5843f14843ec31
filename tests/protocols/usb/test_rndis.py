"""RNDIS data messages (no Wireshark dissector to compare with: these tests are the oracle): several
packets per transfer, each frame handed to the network pipeline with the carrier's chain; what
follows the last whole message is examined raw; hostile lengths stop the walk."""

from __future__ import annotations

import struct

from sandbox.model import Payload
from sandbox.protocols.usb.function import Transfer
from sandbox.protocols.usb.rndis import HEADER_SIZE, RndisFunction, packets
from tests.protocols.usb.ethernet import context, dns_frame, injected


def message(frame: bytes, pad: int = 0) -> bytes:
    return struct.pack("<IIII", 1, HEADER_SIZE + len(frame) + pad, 36, len(frame)) + bytes(28) + frame + bytes(pad)


def test_three_packets_in_one_transfer_are_three_frames():
    frames = [dns_frame(n) for n in range(3)]
    data = message(frames[0]) + message(frames[1], pad=3) + message(frames[2])
    first, second = HEADER_SIZE + len(frames[0]), HEADER_SIZE + len(frames[1]) + 3      # message lengths
    assert packets(data) == ([(0, HEADER_SIZE, len(frames[0])), (first, first + HEADER_SIZE, len(frames[1])),
                              (first + second, first + second + HEADER_SIZE, len(frames[2]))], len(data))
    assert RndisFunction.detect(data) and not RndisFunction.detect(data + b"x")
    ctx = context("rndis")
    RndisFunction(ctx).transfer(Transfer("out", 0x02, "bulk", data, 1.0))
    segs = injected(ctx)
    assert [s.dport for s in segs] == [53, 53, 53] and all(s.meta["via"] == ("usb 1.6", "rndis") for s in segs)
    assert [s.meta["carrier"] for s in segs] == ["usb"] * 3


def test_bytes_after_the_last_message_go_raw_and_zero_padding_does_not():
    ctx = context("rndis")
    fn = RndisFunction(ctx)
    out = fn.transfer(Transfer("out", 0x02, "bulk", message(dns_frame(1)) + bytes(20), 1.0))
    out += fn.transfer(Transfer("out", 0x02, "bulk", message(dns_frame(2)) + b"vendor trailer", 2.0))
    out += fn.close(3.0)
    assert b"".join(p.data for p in out if isinstance(p, Payload)) == b"vendor trailer"


def test_bytes_hidden_between_header_and_frame_are_examined():
    frame = dns_frame(4)
    hidden = b"HIDDEN RUN DATA " * 4
    msg = struct.pack("<IIII", 1, HEADER_SIZE + len(hidden) + len(frame), 36 + len(hidden), len(frame)) + bytes(28)
    ctx = context("rndis")
    fn = RndisFunction(ctx)
    out = fn.transfer(Transfer("out", 0x02, "bulk", msg + hidden + frame, 1.0)) + fn.close(2.0)
    assert hidden in b"".join(p.data for p in out if isinstance(p, Payload))
    assert [s.dport for s in injected(ctx)] == [53]


def test_hostile_lengths_stop_the_walk():
    for mlen, doff, dlen in ((10, 36, 4), (1 << 31, 36, 4), (60, 1 << 30, 4), (60, 36, 1 << 30)):
        bad = struct.pack("<IIII", 1, mlen, doff, dlen) + bytes(60)
        assert packets(bad) == ([], 0)
