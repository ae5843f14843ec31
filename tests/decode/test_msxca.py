"""Windows' compression (MS-XCA) and SMB's other two: the specification's examples, round trips through
writers made from the specification, the declared size never exceeded, hostile streams."""

from __future__ import annotations

import random

import lz4.block
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.decode import msxca
from sandbox.index import _kernels
from tests.decode import xca_writer

ALPHABET = b"abcdefghijklmnopqrstuvwxyz"
ABC = b"abc" * 100
# MS-XCA 3.1-3.3, as printed there
PLAIN = {ALPHABET: bytes.fromhex("3f000000") + ALPHABET, ABC: bytes.fromhex("ffffff1f61626317000fff2601")}
LZNT1_TEXT = (b"F# F# G A A G F# E D D E F# F# E E F# F# G A A G F# E D D E F# E D D E E F# D E F# G F# D E "
              b"F# G F# E D E A F# F# G A A G F# E D D E F# E D D\0")
LZNT1_EXAMPLE = bytes.fromhex(
    "38b08846232000204720410010a24701a04520440008450150790 0c045200524138805b4024a44ef03"
    "58028c091601484500be009e00040118 9000".replace(" ", ""))
_TABLE = bytearray(256)
_TABLE[48:62] = bytes.fromhex("50555555555555555555554544 04".replace(" ", ""))
_TABLE[128] = 0x04
HUFFMAN_ALPHABET = bytes(_TABLE) + bytes.fromhex("d8523ed794115be9195ff9d67cdf8d0400000000")

WRITERS = {msxca.LZ77: xca_writer.lz77, msxca.LZNT1: xca_writer.lznt1, msxca.LZ77_HUFFMAN: xca_writer.huffman}
_rng = random.Random(7)
FASTQ = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(_rng.choice(b"ACGT") for _ in range(150)), b"F" * 150)
                 for i in range(1200))
SAMPLES = {"fastq": FASTQ, "random": _rng.randbytes(70000), "one byte repeated": b"A" * 100000 + bytes(70000),
           "abc": ABC, "two bytes": b"ab", "nothing": b""}


@pytest.mark.parametrize("plain", list(PLAIN))
def test_the_specification_s_plain_lz77_examples(plain: bytes) -> None:
    assert msxca.decompress(msxca.LZ77, PLAIN[plain], len(plain)) == (plain, True)
    assert xca_writer.lz77(plain) == PLAIN[plain]     # the tests' writer writes what Windows does


def test_the_specification_s_lznt1_example() -> None:
    assert msxca.decompress(msxca.LZNT1, LZNT1_EXAMPLE, len(LZNT1_TEXT)) == (LZNT1_TEXT, True)


def test_the_specification_s_huffman_example() -> None:
    assert msxca.decompress(msxca.LZ77_HUFFMAN, HUFFMAN_ALPHABET, 26) == (ALPHABET, True)
    # the end-of-stream symbol ends it when the size is not known in advance
    assert msxca.decompress(msxca.LZ77_HUFFMAN, HUFFMAN_ALPHABET, 1000) == (ALPHABET, False)


@pytest.mark.parametrize("algorithm", list(WRITERS), ids=msxca.name)
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_round_trips(algorithm: int, sample: str) -> None:
    data = SAMPLES[sample]
    assert msxca.decompress(algorithm, WRITERS[algorithm](data), len(data)) == (data, True)


@pytest.mark.parametrize("algorithm", list(WRITERS), ids=msxca.name)
def test_never_more_than_declared(algorithm: int) -> None:
    data = SAMPLES["fastq"]
    packed = WRITERS[algorithm](data)
    for size in (0, 1, 1000, 65535, 65536, 65537, len(data) - 1):
        made = msxca.decompress(algorithm, packed, size)
        assert made.data == data[:size] and not made.whole


def test_a_few_bytes_asking_for_gigabytes_make_the_room_and_no_more() -> None:
    bomb = xca_writer.lz77(b"A" * 5_000_000)
    assert len(bomb) < 64
    made = msxca.decompress(msxca.LZ77, bomb, 1 << 20)
    assert made.data == b"A" * (1 << 20)


@pytest.mark.parametrize("algorithm", list(WRITERS), ids=msxca.name)
def test_cut_streams_give_a_true_prefix(algorithm: int) -> None:
    data = SAMPLES["fastq"][:20000]
    packed = WRITERS[algorithm](data)
    for cut in range(0, len(packed), 997):
        made = msxca.decompress(algorithm, packed[:cut], len(data))
        assert data.startswith(made.data) and not made.whole


def test_distances_before_the_start_are_corrupt() -> None:
    # a match flag first: 16 bits of distance 8 before anything was written
    assert msxca.decompress(msxca.LZ77, bytes.fromhex("00000080") + b"\x38\x00", 100) == (b"", False)
    # LZNT1: a chunk whose first item is a match
    assert msxca.decompress(msxca.LZNT1, bytes.fromhex("02b0") + b"\x01\x00\x00", 100) == (b"", False)


def test_a_huffman_table_that_is_no_whole_code_is_corrupt() -> None:
    over = bytes([0x11] * 256) + bytes(8)          # 512 codes of one bit
    under = bytes([0x01]) + bytes(255) + bytes(8)  # one code of one bit
    for table in (over, under):
        assert msxca.decompress(msxca.LZ77_HUFFMAN, table, 100) == (b"", False)
    assert _kernels.xca(over, 3, bytearray(100))[2] == 2


def test_pattern_v1_and_lz4() -> None:
    assert msxca.decompress(msxca.PATTERN_V1, b"\x00\x00\x00\x00" + (5000).to_bytes(4, "little"), 8192) == \
        (bytes(5000), True)
    assert msxca.decompress(msxca.PATTERN_V1, b"\x41\x00\x00\x00" + (1 << 31).to_bytes(4, "little"), 10) == \
        (b"A" * 10, False)
    assert msxca.decompress(msxca.PATTERN_V1, b"short", 10) == (b"", False)
    packed = lz4.block.compress(FASTQ, store_size=False)
    assert msxca.decompress(msxca.LZ4, packed, len(FASTQ)) == (FASTQ, True)
    assert msxca.decompress(msxca.LZ4, packed[:100], len(FASTQ)).whole is False
    assert msxca.decompress(msxca.NONE, b"plain", 5) == (b"plain", True)


def test_an_algorithm_not_known_is_none_and_named_by_number() -> None:
    assert msxca.decompress(9, b"x", 10) is None
    assert msxca.name(9) == "algorithm 9" and msxca.name(msxca.LZ77_HUFFMAN) == "LZ77+Huffman"
    with pytest.raises(ValueError):
        _kernels.xca(b"", 4, bytearray(1))


@pytest.mark.parametrize("algorithm", list(WRITERS), ids=msxca.name)
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), size=st.integers(0, 5000))
def test_hostile_streams_stay_in_the_room(algorithm: int, data: bytes, size: int) -> None:
    out = bytearray(size)
    made, read, status = _kernels.xca(data, algorithm, out)
    assert 0 <= made <= size and 0 <= read <= len(data) and status in (0, 1, 2)


@pytest.mark.parametrize("algorithm", list(WRITERS), ids=msxca.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_streams_stay_in_the_room(algorithm: int, data: st.DataObject) -> None:
    packed = bytearray(WRITERS[algorithm](SAMPLES["fastq"][:3000]))
    for _ in range(data.draw(st.integers(1, 8))):
        packed[data.draw(st.integers(0, len(packed) - 1))] = data.draw(st.integers(0, 255))
    made = msxca.decompress(algorithm, bytes(packed), 3000)
    assert len(made.data) <= 3000
