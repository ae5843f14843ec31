"""The addon's frames: round trip in any cut, and bytes that are not ours stop the feed."""

from __future__ import annotations

import struct

import pytest

from hw.net import events


def test_frames_round_trip_whatever_the_cuts():
    frames = [events.encode(events.REQUEST, 1.5, 3, {"msg": 1, "headers": [["Host", "\xe9"]]}),
              events.encode(events.BODY, 1.6, 3, {"msg": 1}, b"\0\xff" * 5000),
              events.encode(events.CLOSE, 1.7, 3)]
    blob = b"".join(frames)
    for cut in (1, 7, 4096, len(blob)):
        dec = events.Decoder()
        got = [ev for i in range(0, len(blob), cut) for ev in dec.feed(blob[i:i + cut])]
        assert [(e.kind, e.t, e.conn) for e in got] == [(events.REQUEST, 1.5, 3), (events.BODY, 1.6, 3),
                                                        (events.CLOSE, 1.7, 3)]
        assert got[1].data == b"\0\xff" * 5000 and got[0].meta["headers"] == [["Host", "\xe9"]]
    assert events.fields([["Host", "\xe9"]]) == [(b"Host", b"\xe9")]


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\n\r\n" * 4, struct.pack("!IBdII", 1 << 30, 1, 0.0, 0, 0),
                                     struct.pack("!IBdII", 17 + 3, 2, 0.0, 0, 3) + b"{x}"])
def test_bytes_that_are_not_a_frame_raise(garbage):
    with pytest.raises(events.FrameError):
        list(events.Decoder().feed(garbage))
