"""The fused Ethernet/IPv4/TCP hot paths (Ethernet, Linux cooked v2) give exactly what the general decoder
gives, frame by frame."""

from __future__ import annotations

import dataclasses
import random
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.captures import open_capture
from sandbox.captures.ip import IpDecoder
from sandbox.captures.links import ethernet as eth_link
from sandbox.captures.links import sll2
from sandbox.captures.writer import (
    LINKTYPE_LINUX_SLL2,
    PcapngWriter,
    PcapWriter,
    ethernet,
    ipv4,
    ipv4_fragments,
    tcp_segment,
    udp_datagram,
)
from sandbox.model import Segment

A, B = "192.0.2.1", "198.51.100.7"
META = [f.name for f in dataclasses.fields(Segment)].index("meta")


def _tcp(payload: bytes = b"hello", flags: int = 0x18, seq: int = 1000) -> bytes:
    return ipv4(A, B, 6, tcp_segment(A, B, 40000, 80, seq, 5, flags, payload))


def _tricky() -> list[bytes]:
    """Frames at every edge of the hot path's conditions."""
    plain = ethernet(_tcp())
    with_options = bytearray(_tcp(b"opt"))
    with_options[0] = 0x46                                   # IHL 6: 4 option bytes (taken from the TCP header)
    tcp_opts = bytearray(ethernet(_tcp(b"0123456789abcdef")))
    tcp_opts[46] = 0x80                                      # TCP data offset 32: options eat the payload
    bad_doff = bytearray(plain)
    bad_doff[46] = 0x40                                      # data offset 16 < 20: malformed
    huge_doff = bytearray(plain)
    huge_doff[46] = 0xF0                                     # data offset past the end: empty payload
    long_total = bytearray(plain)
    long_total[16:18] = struct.pack("!H", 1500)              # IP length past the frame: frame end wins
    short_total = bytearray(plain)
    short_total[16:18] = struct.pack("!H", 10)               # IP length under its header: frame end wins
    tiny_total = bytearray(plain)
    tiny_total[16:18] = struct.pack("!H", 30)                # TCP header cut by the IP length
    frames = [
        plain,
        ethernet(_tcp(b"")),
        ethernet(_tcp(b"pad")) + b"\0" * 20,                 # Ethernet padding after the IP length
        ethernet(_tcp(), vlans=(10,)),
        ethernet(ipv4(A, B, 17, udp_datagram(A, B, 53, 5353, b"dns"))),
        ethernet(_tcp()[:20] + b"\0" * 10),                  # TCP header shorter than 20
        plain[:53], plain[:54], plain[:60],
        ethernet(bytes(with_options)), bytes(tcp_opts), bytes(bad_doff), bytes(huge_doff),
        bytes(long_total), bytes(short_total), bytes(tiny_total),
        ethernet(_tcp(), ethertype=0x0806),
        b"\0" * 10,
        ethernet(ipv4(A, B, 6, tcp_segment(A, B, 40000, 80, 1000, 5, 0x38, b"urgent!", urgent=3))),   # URG
    ]
    frames += [ethernet(f) for f in ipv4_fragments(A, B, 6, tcp_segment(A, B, 1, 2, 3, 4, 0x18, b"x" * 3000), 1000)]
    return frames


def _general(frames: list[bytes], link=eth_link) -> list[tuple]:
    """The general path (link module + IpDecoder), as Capture ran it before the hot path."""
    ip, out = IpDecoder(), []
    for n, frame in enumerate(frames, 1):
        try:
            where = link.side(frame) if hasattr(link, "side") else None
            ethertype, off = link.network(frame)
            seg = ip.decode(ethertype, frame, off, 1.0 + n, n, tuple(where.items()) if where else None)
        except (struct.error, IndexError, ValueError):
            continue
        if seg is not None:
            if where:
                seg.meta = {**(seg.meta or {}), **where}
            out.append(dataclasses.astuple(seg))
    return out


def _cooked(frame: bytes, n: int) -> bytes:
    """An Ethernet frame as Linux cooked v2 records it: received, or sent (every third), on interface 3."""
    return struct.pack("!2sHIHBB8s", frame[12:14], 0, 3, 1, 4 if n % 3 == 0 else 0, 6, frame[6:12] + b"\0\0") + frame[14:]


def _read(path, frames: list[bytes], writer, **opts) -> list[tuple]:
    with writer(path, **opts) as w:
        for n, frame in enumerate(frames, 1):
            w.write(frame, 1.0 + n)
    cap = open_capture(path)
    segs = [dataclasses.astuple(s) for s in cap]
    assert cap.stats.packets == len(frames) and cap.stats.bytes == sum(map(len, frames))
    return segs


def test_tricky_frames_match_the_general_path(tmp_path):
    frames = _tricky()
    want = _general(frames)
    assert len(want) >= 10                                   # the list really exercises the hot path
    assert [seg[META] for seg in want if seg[7] == b"urgent!"] == [{"urgent": 3}]    # where the urgent byte is
    assert _read(tmp_path / "t.pcap", frames, PcapWriter) == want
    assert _read(tmp_path / "t.pcapng", frames, PcapngWriter) == want


def test_cooked_frames_match_the_general_path_and_say_where_they_were_seen(tmp_path):
    frames = [_cooked(f, n) for n, f in enumerate(_tricky()) if len(f) >= 14]
    want = _general(frames, sll2)
    assert len(want) >= 10
    assert {seg[META].get("arrived", seg[META].get("left")) for seg in want} == {3}
    assert any("left" in seg[META] for seg in want) and any("arrived" in seg[META] for seg in want)
    got = _read(tmp_path / "c.pcapng", frames, PcapngWriter, linktype=LINKTYPE_LINUX_SLL2)
    assert got == want
    assert _read(tmp_path / "c.pcap", frames, PcapWriter, linktype=LINKTYPE_LINUX_SLL2) == want


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 1 << 30), count=st.integers(1, 40))
def test_mutated_headers_match_the_general_path(tmp_path_factory, seed, count):
    rng = random.Random(seed)
    frames = []
    for i in range(count):
        frame = bytearray(ethernet(_tcp(rng.randbytes(rng.choice((0, 3, 40))), seq=i * 100)))
        for _ in range(rng.randrange(4)):
            frame[rng.randrange(12, len(frame))] = rng.randrange(256)
        if rng.random() < 0.2:
            frame = frame[:rng.randrange(len(frame) + 1)]
        frames.append(bytes(frame))
    path = tmp_path_factory.mktemp("fz") / "f.pcap"
    assert _read(path, frames, PcapWriter) == _general(frames)
    cooked = [_cooked(f, n) for n, f in enumerate(frames) if len(f) >= 14]
    assert (_read(path.with_suffix(".pcapng"), cooked, PcapngWriter, linktype=LINKTYPE_LINUX_SLL2)
            == _general(cooked, sll2))
