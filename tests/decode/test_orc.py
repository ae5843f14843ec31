"""orc: every codec pyarrow writes, files cut before their postscript, hostile chunk headers."""

from __future__ import annotations

import io
import random

import pyarrow as pa
import pyarrow.orc as orc
import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.orc import OrcDecoder

CHAIN = ("tcp",)
rng = random.Random(9)
SEQS = ["".join(rng.choice("ACGT") for _ in range(150)) for _ in range(3000)]


def _orc(codec: str) -> bytes:
    buf = io.BytesIO()
    orc.write_table(pa.table({"id": list(range(len(SEQS))), "seq": SEQS}), buf, compression=codec)
    return buf.getvalue()


def _views(data: bytes) -> dict[str, bytes]:
    return {v.chain[-1]: v.data for v in expand(data, CHAIN).views if len(v.chain) == 2}


@pytest.mark.parametrize("codec", ["zlib", "snappy", "lz4", "zstd"])
def test_every_codec(codec):
    views = _views(_orc(codec))
    assert all(s.encode() in views["orc"] for s in SEQS)


@pytest.mark.parametrize("codec", ["zlib", "snappy", "zstd"])
def test_a_file_cut_before_its_postscript_gives_its_whole_chunks(codec):
    data = _orc(codec)
    views = _views(data[: len(data) // 2])
    got = [s for s in SEQS if s.encode() in views["orc(truncated)"]]
    assert len(SEQS) // 4 < len(got) < len(SEQS)


def test_an_uncompressed_file_is_its_own_view():
    data = _orc("uncompressed")
    assert list(_views(data)) == [] and all(s.encode() in data for s in SEQS)


@pytest.mark.parametrize("body", [
    b"\xff\xff\xff" + bytes(100),  # a chunk longer than the file
    b"\x10\x00\x00" + b"\xff" * 8,  # a zlib chunk that is not deflate
    b"\x01\x00\x80" + bytes(100),  # a stored chunk larger than any block
])
def test_hostile_chunks_give_nothing(body):
    for data in (b"ORC" + body, b"ORC" + body + b"\x08\x00\x10\x01\x03ORC\x07"):
        assert list(OrcDecoder.decode(data, Budget(1 << 20, "test"))) == []


def test_the_budget_stops_it_and_says_so():
    data = _orc("zlib")
    budget = Budget(50_000, "test budget")
    ((label, out),) = list(OrcDecoder.decode(data, budget))
    assert label == "orc" and len(out) <= 50_000 and budget.hit == "test budget" and budget.left > 0


def test_an_lzo_file_is_said_not_read():
    """pyarrow writes no LZO: a zlib file whose postscript is made to name LZO (codec 3)."""
    data = bytearray(_orc("zlib"))
    size = data[-1]
    at = data.find(b"\x10\x01", len(data) - 1 - size)  # the postscript's compression field: ZLIB
    assert at > 0
    data[at + 1] = 3
    budget = Budget(1 << 24, "test")
    assert list(OrcDecoder.decode(bytes(data), budget)) == []
    assert budget.unread == [("ORC file compressed with LZO, which the rig does not read", len(data) - 3 - 1 - size)]
