"""parquet: every codec pyarrow writes, pages v1 and v2, dictionaries, nested columns; files cut
before their footer; hostile footers."""

from __future__ import annotations

import io
import random

import lz4.block
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.parquet import LZ4_HADOOP, LZO, ParquetDecoder, _footer_chunks, _inflate

from .test_conformance import varint

CHAIN = ("tcp",)
rng = random.Random(6)
SEQS = ["".join(rng.choice("ACGT") for _ in range(150)) for _ in range(1500)]


def _parquet(table: pa.Table, **options) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **options)
    return buf.getvalue()


def _views(data: bytes) -> dict[str, bytes]:
    return {v.chain[-1]: v.data for v in expand(data, CHAIN).views if len(v.chain) == 2}


@pytest.mark.parametrize("codec", ["snappy", "lz4", "gzip", "zstd", "brotli", "none"])
@pytest.mark.parametrize("page_version", ["1.0", "2.0"])
@pytest.mark.parametrize("dictionary", [False, True])
def test_every_codec_and_page_kind(codec, page_version, dictionary):
    table = pa.table({"id": list(range(len(SEQS))), "seq": SEQS})
    data = _parquet(table, compression=codec, data_page_version=page_version, use_dictionary=dictionary,
                    data_page_size=16384)
    views = _views(data)
    assert sorted(views) == ["outside parquet", "parquet:id", "parquet:seq"]
    assert all(s.encode() in views["parquet:seq"] for s in SEQS)
    # the page headers and the footer (the writer's statistics and key-value strings) are searched apart
    assert b"seq" in views["outside parquet"] and b"parquet-cpp-arrow" in views["outside parquet"]


def test_nested_columns_are_named_by_their_path():
    table = pa.table({"read": pa.array([{"name": f"r{i}", "bases": s} for i, s in enumerate(SEQS)])})
    views = _views(_parquet(table))
    assert SEQS[7].encode() in views["parquet:read.bases"] and b"r7" in views["parquet:read.name"]


def test_a_file_cut_before_its_footer_gives_its_whole_pages():
    """An upload cut by the capture: no footer, so the pages are walked from the start and each
    one's codec told by its bytes."""
    for codec in ("snappy", "lz4", "gzip", "zstd", "brotli"):
        data = _parquet(pa.table({"seq": SEQS}), compression=codec, use_dictionary=False, data_page_size=8192,
                        write_batch_size=64)
        views = _views(data[: len(data) * 2 // 3])
        assert list(views) == ["parquet:?(truncated)", "outside parquet"], codec
        whole = [s for s in SEQS if s.encode() in views["parquet:?(truncated)"]]
        assert len(SEQS) // 3 < len(whole) < len(SEQS) and whole == SEQS[: len(whole)], codec


def test_hadoop_lz4_framing():
    """Parquet's deprecated LZ4 codec (Hadoop's framing: sizes before each block), and the raw
    blocks old writers put under that codec."""
    page = "".join(SEQS[:100]).encode()
    blocks = [page[i: i + 4096] for i in range(0, len(page), 4096)]
    framed = b"".join(len(b).to_bytes(4, "big") + len(c).to_bytes(4, "big") + c
                      for b in blocks for c in [lz4.block.compress(b, store_size=False)])
    assert _inflate(LZ4_HADOOP, framed, len(page)) == page
    assert _inflate(LZ4_HADOOP, lz4.block.compress(page, store_size=False), len(page)) == page


def _i64(field_delta: int, value: int) -> bytes:
    return bytes([field_delta << 4 | 6]) + varint(value << 1 if value >= 0 else (-value << 1) - 1)


def _footer(chunks: int, start: int, length: int) -> bytes:
    """FileMetaData (Thrift compact) of one row group of ``chunks`` column chunks, each said to
    start at ``start`` and hold ``length`` bytes."""
    # ColumnMetaData: path_in_schema ["x"] (3), codec SNAPPY (4), total_compressed_size (7),
    # data_page_offset (9)
    meta = b"\x39\x18\x01x" + b"\x15\x02" + _i64(3, length) + _i64(2, start) + b"\x00"
    column = b"\x3c" + meta + b"\x00"  # ColumnChunk: field 3 = ColumnMetaData
    columns = bytes([0xF0 | 12]) + varint(chunks) + column * chunks
    group = b"\x19" + columns + b"\x00"  # RowGroup: field 1 = list<ColumnChunk>
    return b"\x49" + bytes([0x1C]) + group + b"\x00"  # FileMetaData: field 4 = list<RowGroup> of 1


def test_a_footer_whose_chunks_all_overlap_walks_each_byte_once():
    body = _parquet(pa.table({"seq": SEQS}), use_dictionary=False)
    pages = body[: -8 - int.from_bytes(body[-8:-4], "little")]
    (chunk,) = _footer_chunks(body)
    footer = _footer(100_000, 4, chunk.end - 4)
    data = pages + footer + len(footer).to_bytes(4, "little") + b"PAR1"
    views = _views(data)
    assert all(s.encode() in views["parquet:x"] for s in SEQS[:10])


@pytest.mark.parametrize("footer", [
    b"\x1c" * 5000 + b"\x00" * 5000,  # structs nested 5,000 deep
    b"\x19\xfc" + b"\xff" * 9,  # a list claiming more elements than bytes
    b"\x49\x1c\x19\x1c\x3c\x15\x00",  # cut inside
    bytes(range(256)) * 4,
])
def test_hostile_footers_fall_back_to_the_page_walk(footer):
    body = _parquet(pa.table({"seq": SEQS}), use_dictionary=False)
    pages = body[: -8 - int.from_bytes(body[-8:-4], "little")]
    data = pages + footer + len(footer).to_bytes(4, "little") + b"PAR1"
    (walked,) = [v for label, v in _views(data).items() if label.startswith("parquet:?(")]  # ends in the footer
    assert all(s.encode() in walked for s in SEQS)


def test_a_page_past_the_budget_is_a_limit_hit():
    data = _parquet(pa.table({"seq": SEQS}), use_dictionary=False)
    budget = Budget(50_000, "test budget")
    assert ParquetDecoder.sniff(data) and list(ParquetDecoder.decode(data, budget)) == []
    assert budget.hit == "test budget" and budget.left > 0


def test_an_encrypted_file_is_not_taken():
    assert not ParquetDecoder.sniff(b"PARE" + bytes(100))


def test_a_run_of_empty_pages_is_bounded_and_said():
    """Seven-byte page headers of nothing, a megabyte of them: the pages read are bounded (it cost
    a second per MB), and what is left is a limit hit."""
    page = b"\x15\x00\x15\x00\x15\x00\x00"  # type 0, sizes 0 and 0
    data = b"PAR1" + page * 150_000
    budget = Budget(1 << 24, "test")
    list(ParquetDecoder.decode(data, budget))
    assert budget.hit == "65536 pages" and budget.left > 0


def test_an_lzo_column_chunk_is_said_not_read():
    """pyarrow writes no LZO: a snappy file whose footer is made to name LZO (codec 3, zigzag 6)."""
    data = bytearray(_parquet(pa.table({"seq": SEQS}), compression="snappy", use_dictionary=False))
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    at = data.find(b"\x15\x02\x16", footer)  # ColumnMetaData's field 4 (codec, i32: SNAPPY), then field 5
    assert at > 0 and data.find(b"\x15\x02\x16", at + 1) < 0
    data[at + 1] = 6
    (chunk,) = _footer_chunks(bytes(data))
    assert chunk.codec == LZO
    budget = Budget(1 << 24, "test")
    assert list(ParquetDecoder.decode(bytes(data), budget)) == []
    assert budget.unread == [("Parquet column chunk compressed with LZO, which the rig does not read",
                              chunk.end - chunk.start)]
