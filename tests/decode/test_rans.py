"""CRAM's rANS coders on the blocks htslib writes (4x8, Nx16 and its transforms), cut, damaged and hostile."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from sandbox.decode.cram import RANS4X8, RANSNX16, _containers
from sandbox.decode.rans import PACK, RLE, STRIPE, RansError, Tables, rans4x8, ransnx16
from tests.decode.test_cram import _cram


def _decode(method: int, body: bytes, raw: int, cap: int = 1 << 24, tables: Tables | None = None) -> bytes:
    return rans4x8(body, cap, tables) if method == RANS4X8 else ransnx16(body, raw, cap, tables)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory) -> list[tuple[int, bytes, int]]:
    """(method, bytes, raw size) of every rANS block of CRAMs in 3.0 and 3.1's profiles."""
    tmp = tmp_path_factory.mktemp("rans")
    found = []
    for i, options in enumerate([(b"version=3.0",), (b"version=3.1",), (b"version=3.1", b"small"),
                                 (b"version=3.1", b"fast"), (b"version=3.1", b"archive")]):
        data = _cram(tmp / f"{i}.cram", *options)
        for container in _containers(data, data[4]):
            found += [(b.method, data[b.start:b.start + b.size], b.raw) for b in container.blocks
                      if b.method in (RANS4X8, RANSNX16)]
    return found


def test_the_blocks_htslib_writes_decode_to_their_size(blocks):
    methods = {m for m, _, _ in blocks}
    flags = {body[0] for m, body, _ in blocks if m == RANSNX16}
    assert methods == {RANS4X8, RANSNX16} and any(f & (PACK | RLE | STRIPE) for f in flags), flags
    for method, body, raw in blocks:
        assert len(_decode(method, body, raw)) == raw


def test_cut_and_damaged_blocks_raise_only_rans_error(blocks):
    """Every read past the input, every table that does not add up, every symbol with no table: the
    coder's own error, never an IndexError or a hang."""
    rng = random.Random(5)
    for method, body, raw in blocks:
        for cut in sorted({1, 2, 5, 9, len(body) // 2, len(body) - 1}):
            with pytest.raises(RansError):
                _decode(method, body[:cut], raw)
        for _ in range(40):
            broken = bytearray(body)
            broken[rng.randrange(len(broken))] = rng.randrange(256)
            try:
                _decode(method, bytes(broken), raw)
            except RansError:
                pass


def test_random_bytes_are_no_stream():
    rng = random.Random(9)
    for _ in range(2000):
        data = rng.randbytes(rng.randrange(1, 300))
        for method in (RANS4X8, RANSNX16):
            try:
                _decode(method, data, 100, cap=1 << 16)
            except RansError:
                pass


def test_a_size_past_the_cap_is_refused_before_anything_is_made():
    tracemalloc.start()
    try:
        with pytest.raises(RansError):
            rans4x8(b"\x00" + (1 << 20).to_bytes(4, "little") + (1 << 30).to_bytes(4, "little") + b"\x00" * 64, 1 << 20)
        with pytest.raises(RansError):
            ransnx16(b"\x00\x84\x80\x80\x80\x00" + b"\x00" * 64, 0, 1 << 20)      # a size of 1 GiB
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20



def test_the_tables_a_file_may_build_are_bounded(blocks):
    """Each context's table is 4 KiB of slots made from a few bytes: a file of tiny order-1 blocks would
    cost a thousand times its size.  The calls sharing a bound stop past it (the CRAM decoder says so)."""
    built = 0
    for method, body, raw in blocks:
        tables = Tables(10_000)
        assert len(_decode(method, body, raw, tables=tables)) == raw
        if tables.left < 10_000:         # (a block of PACK and CAT builds none)
            built += 1
            with pytest.raises(RansError, match="bound"):
                _decode(method, body, raw, tables=Tables(0))
    assert built
