"""The shared magic scan: the same first offsets as bytes.find, in one pass, even on a flood."""

from __future__ import annotations

import random

import pytest

from sandbox.decode import magic


def _planted(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randint(0, 6)):
        parts.append(rng.randbytes(rng.randint(0, 400)))
        m = rng.choice(magic.MAGICS)
        parts.append(m[: rng.randint(1, len(m))])  # whole magics and prefixes of them
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(5))
def test_first_offsets_equal_bytes_find(seed):
    rng = random.Random(seed)
    for _ in range(100):
        data = _planted(rng)
        for m in magic.MAGICS:
            assert magic.first(data, m) == data.find(m)
            start = rng.randint(0, len(data))
            assert magic.find(data, m, start) == data.find(m, start)


def test_a_flood_of_one_magic_still_finds_the_others():
    data = b"PK\x03\x04" * 100_000 + b"\x1f\x8b\x08" + b"BZh"
    assert magic.first(data, magic.ZIP_LOCAL) == 0
    assert magic.first(data, b"\x1f\x8b\x08") == 400_000 and magic.first(data, b"BZh") == 400_003
    assert magic.first(data, magic.XZ_MAGIC) == -1


def test_a_flood_of_first_bytes_is_answered():
    """Every byte a candidate (the magics' first bytes repeated): still one linear pass, right answers."""
    data = b"\x1f\x8bP(\xfdB" * 200_000 + magic.XZ_MAGIC
    for m in magic.MAGICS:
        assert magic.first(data, m) == data.find(m)


def test_text_views():
    text = b"log line BZh9 then PK\x03\x04 then \x1f plain ascii" * 3
    for m in magic.MAGICS:
        assert magic.first(text, m) == text.find(m)
