"""Reads cut into pieces shorter than a k-mer, or interleaved a base at a time, uploaded to an allowed
destination, replay as a leak.  Each replayed clean before: no piece holds a k-mer (31 bases), and
two or three reads woven together a base at a time make none of either.

The pieces go as a receiver would put them together again: each behind its read's number and its
offset (in order, or shuffled: a JSON array of ``[read, offset, piece]``, lines ``read:offset:piece``),
or behind them (``piece,read,offset``).  Now the runs too short for a k-mer are also read joined, in
their order and in the order of the numbers beside them, and letters not found as they are are read
every second and every third one from each start."""

from __future__ import annotations

import json
import random

import pytest

from tests.hostile.uploads import run_and_reads, upload_report


def _pieces(seqs: list[bytes], size: int, shuffle: bool) -> list[tuple[int, int, bytes]]:
    out = [(i, j, s[j:j + size]) for i, s in enumerate(seqs) for j in range(0, len(s), size)]
    if shuffle:
        random.Random(size).shuffle(out)
    return out


def _woven(seqs: list[bytes], ways: int) -> bytes:
    groups = zip(*(seqs[n::ways] for n in range(ways)), strict=False)
    return b"\n".join(bytes(base for bases in zip(*group, strict=False) for base in bases) for group in groups)


SHAPES = {
    "pieces of 28 in order, numbered": lambda seqs: b"\n".join(
        b"%d,%d,%s" % piece for piece in _pieces(seqs, 28, False)),
    "pieces of 24 shuffled in a JSON array, numbered": lambda seqs: json.dumps(
        [[i, j, p.decode()] for i, j, p in _pieces(seqs, 24, True)]).encode(),
    "pieces of 20 shuffled, lines numbered": lambda seqs: b"\n".join(
        b"%d:%d:%s" % piece for piece in _pieces(seqs, 20, True)),
    "pieces of 22 shuffled, numbers after": lambda seqs: b";".join(
        b"%s,%d,%d" % (p, i, j) for i, j, p in _pieces(seqs, 22, True)),
    "two reads woven a base at a time": lambda seqs: _woven(seqs, 2),
    "three reads woven a base at a time": lambda seqs: _woven(seqs, 3),
}


@pytest.fixture(scope="module")
def run_seqs(tmp_path_factory):
    tmp, run, reads = run_and_reads(tmp_path_factory, "pieces")
    return tmp, run, reads.split(b"\n")[1::4]


@pytest.mark.parametrize("name", SHAPES)
def test_reads_in_pieces_or_woven_replay_as_a_leak(run_seqs, name):
    tmp, run, seqs = run_seqs
    report = upload_report(tmp, run, name, SHAPES[name](seqs))
    assert report["verdict"] == "leak", name
    (leak,) = [f for f in report["findings"] if f["kind"] == "sequence"]
    assert leak["severity"] in ("high", "critical")


@pytest.mark.parametrize("name", SHAPES)
def test_other_bases_in_the_same_shapes_find_nothing(run_seqs, name):
    """Bases that are not the run's (another genome), cut and woven the same way: no finding."""
    tmp, run, seqs = run_seqs
    rng = random.Random(name)
    others = [bytes(rng.choice(b"ACGT") for _ in range(len(s))) for s in seqs]
    report = upload_report(tmp, run, f"other {name}", SHAPES[name](others))
    assert not [f for f in report["findings"] if f["kind"] in ("sequence", "run-bytes")], report["findings"]
