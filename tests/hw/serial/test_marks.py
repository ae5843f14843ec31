"""PARMRK-marked reads back to the line's bytes, breaks and errors, however the reads were cut."""

from __future__ import annotations

import random

from hw.serial.marks import Unmarker


def _all(reads: list[bytes]) -> list[tuple[str, bytes]]:
    u = Unmarker()
    merged: list[tuple[str, bytes]] = []
    for r in reads:
        for kind, data in u.feed(r):
            if kind == "data" and merged and merged[-1][0] == "data":
                merged[-1] = ("data", merged[-1][1] + data)
            else:
                merged.append((kind, data))
    return merged


def test_marks_become_events_and_doubled_ff_one_byte():
    marked = b"ab\xff\xffc\xff\x00\x00d\xff\x00xe\xff\xff"
    assert _all([marked]) == [("data", b"ab\xffc"), ("break", b""), ("data", b"d"), ("error", b"x"),
                              ("data", b"e\xff")]


def test_every_cut_of_the_reads_gives_the_same_result():
    rng = random.Random(3)
    line = bytes(rng.randrange(256) for _ in range(3000))
    marked = bytearray()
    for i, b in enumerate(line):
        marked += b"\xff\xff" if b == 0xFF else bytes([b])
        if i % 500 == 7:
            marked += b"\xff\x00\x00"
    want = _all([bytes(marked)])
    assert b"".join(d for k, d in want if k == "data") == line
    assert sum(k == "break" for k, _ in want) == 6
    for cut in range(0, len(marked), 7):
        assert _all([bytes(marked[:cut]), bytes(marked[cut:])]) == want
    assert _all([bytes([b]) for b in marked]) == want


def test_plain_reads_pass_through_untouched():
    u = Unmarker()
    data = bytes(range(255)) * 10
    assert u.feed(data) == [("data", data)] and u.feed(b"") == []
