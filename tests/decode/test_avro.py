"""avro: every codec fastavro writes, many blocks, files cut short, hostile headers."""

from __future__ import annotations

import base64
import gzip
import io
import random

import fastavro
import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.avro import AvroDecoder, _header, _long

CHAIN = ("tcp",)
rng = random.Random(8)
SEQS = ["".join(rng.choice("ACGT") for _ in range(150)) for _ in range(1500)]
SCHEMA = {"type": "record", "name": "Read", "fields": [{"name": "id", "type": "long"},
                                                       {"name": "seq", "type": "string"}]}


def _avro(codec: str, records: list[dict] | None = None, **options) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, SCHEMA, records or [{"id": i, "seq": s} for i, s in enumerate(SEQS)], codec=codec,
                    **options)
    return buf.getvalue()


def _views(data: bytes) -> dict[str, bytes]:
    return {v.chain[-1]: v.data for v in expand(data, CHAIN).views if len(v.chain) == 2}


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "bzip2", "xz"])
def test_every_codec_over_many_blocks(codec):
    views = _views(_avro(codec, sync_interval=4096))
    assert all(s.encode() in views["avro"] for s in SEQS)


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "bzip2", "xz"])
def test_a_file_cut_short_gives_its_whole_blocks(codec):
    data = _avro(codec, sync_interval=4096)
    views = _views(data[: len(data) // 2])
    got = [s for s in SEQS if s.encode() in views["avro(truncated)"]]
    assert len(SEQS) // 4 < len(got) < len(SEQS) and got == SEQS[: len(got)]


def test_a_block_whose_sync_marker_differs_ends_the_records():
    data = bytearray(_avro("deflate", sync_interval=4096))
    sync = bytes(data[-16:])
    second = data.find(sync, data.find(sync) + 16)  # after the header's, the first block's
    data[second] ^= 0xFF
    views = _views(bytes(data))
    assert "avro(corrupt)" in views and SEQS[0].encode() in views["avro(corrupt)"]


def test_an_unknown_codec_gives_nothing():
    data = _avro("deflate").replace(b"\x0edeflate", b"\x0edeflatX")
    assert "avro" not in "".join(_views(data))


@pytest.mark.parametrize("header", [
    b"Obj\x01" + b"\xff" * 11,  # a long of more than ten bytes
    b"Obj\x01\x02\x01" + bytes(40),  # a negative key length
    b"Obj\x01" + b"\x01\x00" * 5000 + bytes(16),  # a metadata map of blocks of -1 entries
    b"Obj\x01\x02\x14avro.codec\xff\xff\xff\xff\x0f",  # a value longer than the file
])
def test_hostile_headers_give_nothing(header):
    assert list(AvroDecoder.decode(header + bytes(20), Budget(1 << 20, "test"))) == []


def test_the_budget_stops_it_and_says_so():
    data = _avro("deflate", sync_interval=4096)
    budget = Budget(50_000, "test budget")
    ((label, out),) = list(AvroDecoder.decode(data, budget))
    assert label == "avro" and len(out) <= 50_000 and budget.hit == "test budget" and budget.left > 0


def test_what_the_metadata_and_a_blocks_tail_carry_is_read():
    """The header's metadata (the writer's own keys) and bytes after a block's compressed stream, within
    its size, are no records: searched nowhere while the file was taken apart."""
    reads = "".join(f"@r{i}\n{s}\n+\n{'F' * 150}\n" for i, s in enumerate(SEQS[:200])).encode()
    stream = gzip.compress(reads)
    note = base64.b64encode(stream)
    assert note in _views(_avro("deflate", metadata={"note": note.decode()}))["outside avro"]
    data = _avro("deflate", [{"id": 1, "seq": SEQS[0]}])
    _, sync, at = _header(data)
    size, start = _long(data, _long(data, at)[1])
    block = data[start: start + size] + stream          # the block's size counts the gzip after its stream
    forged = data[:at] + _zigzag(1) + _zigzag(len(block)) + block + sync
    views = {v.chain: v.data for v in expand(forged, CHAIN).views}
    assert SEQS[0].encode() in views[CHAIN + ("avro",)] and stream in views[CHAIN + ("outside avro",)]
    assert [c for c, d in views.items() if d == reads]


def _zigzag(n: int) -> bytes:
    n = n << 1
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))
