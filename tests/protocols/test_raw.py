"""The raw fallback: bounded chunks, overlap across cuts, offsets through holes, time flush."""

from __future__ import annotations

import os
from itertools import pairwise

from sandbox.model import FlowInfo
from sandbox.protocols.context import FlowContext
from sandbox.protocols.raw import RAW_CHUNK, RAW_FLUSH_SECONDS, RAW_OVERLAP, RawParser


def _parser(chain=("tcp",)) -> RawParser:
    info = FlowInfo("tcp a:1 > b:2", "net", "tcp", "a", 1, "b", 2, destination="b")
    return RawParser(FlowContext(info.flow, info, {}, chain=chain))


def test_chunks_are_bounded_overlapping_and_cover_the_stream():
    data = os.urandom(RAW_CHUNK * 3 + 1234)
    p = _parser()
    items = []
    for i in range(0, len(data), 10_000):
        items += p.feed("out", data[i:i + 10_000], 1.0)
    items += p.close(2.0)
    assert all(len(x.data) <= RAW_CHUNK + RAW_OVERLAP for x in items)
    for x in items:
        assert data[x.stream_offset:x.stream_offset + len(x.data)] == x.data
    assert items[0].stream_offset == 0
    assert all(b.stream_offset == a.stream_offset + len(a.data) - RAW_OVERLAP for a, b in pairwise(items))
    assert items[-1].stream_offset + len(items[-1].data) == len(data)
    needle = data[RAW_CHUNK - 50:RAW_CHUNK + 50]          # straddles the first cut
    assert any(needle in x.data for x in items)
    assert p.ctx.info.app == "raw" and items[0].chain == ("tcp",)


def test_gap_keeps_offsets_and_drops_overlap():
    p = _parser()
    items = p.feed("in", b"abc", 1.0) + p.gap("in", 100) + p.feed("in", b"def", 1.1) + p.close(1.2)
    assert [(x.direction, x.data, x.stream_offset) for x in items] == [("in", b"abc", 0), ("in", b"def", 103)]


def test_directions_are_separate_and_old_data_flushes_by_time():
    p = _parser(chain=("udp",))
    assert p.feed("out", b"one", 1.0) == [] and p.feed("in", b"two", 1.0) == []
    late = p.feed("out", b"three", 1.0 + RAW_FLUSH_SECONDS + 0.1)
    assert [(x.data, x.t_first, x.chain) for x in late] == [(b"one", 1.0, ("udp",))]
    rest = p.close(9.0)
    # "one" was emitted already; it comes again as the overlap in front of "three"
    assert {x.direction: x.data for x in rest} == {"out": b"onethree", "in": b"two"}
    assert {x.direction: x.stream_offset for x in rest} == {"out": 0, "in": 0}
