"""Repetition collapsed before matching: runs and repeated blocks go, every k-gram stays true."""

from __future__ import annotations

import os
import random
import re

import pytest

from sandbox.decode.repeats import BLOCK, RUN_KEEP, SPAN, STRIDE, collapse
from sandbox.simulate.bombs import gzip_bomb

K = 32  # the fingerprint k-gram


def _kgrams_true(out: bytes, data: bytes, rng: random.Random) -> None:
    for _ in range(50):
        if len(out) > K:
            i = rng.randrange(len(out) - K)
            assert out[i : i + K] in data


@pytest.mark.parametrize("seed", range(4))
def test_every_kgram_of_the_result_is_in_the_input_and_long_runs_are_cut(seed):
    rng = random.Random(seed)
    for _ in range(100):
        parts = []
        for _ in range(rng.randint(1, 8)):
            kind = rng.random()
            if kind < 0.4:
                parts.append(bytes([rng.randrange(3)]) * rng.randint(1, 4000))
            elif kind < 0.6:  # runs broken by one other byte
                parts.append(b"".join(bytes(rng.randint(100, 900)) + rng.randbytes(1) for _ in range(5)))
            else:
                parts.append(rng.randbytes(rng.randint(1, 3000)))
        data = b"".join(parts)
        out = collapse(data)
        _kgrams_true(out, data, rng)
        longest = RUN_KEEP + (SPAN + 1) * STRIDE
        assert not re.search(rb"(.)\1{%d,}" % longest, out, re.S)


def test_a_leak_between_bombs_survives_whole():
    leak = os.urandom(5000)
    data = bytes(8 << 20) + leak + b"AB" * (2 << 20) + leak + bytes(1 << 20)
    out = collapse(data)
    assert out.count(leak) == 2 and len(out) < 3 * len(leak) + 4 * BLOCK


def test_repeated_blocks_of_any_short_period_are_dropped():
    block = os.urandom(BLOCK)
    assert len(collapse(block * 1000 + b"tail")) == BLOCK + 4
    for period in (2, 3, 5, 7, 8, 12):
        pattern = os.urandom(period) * (100_000 // period)
        assert len(collapse(pattern)) < 3 * BLOCK


def test_the_compressed_bomb_itself_collapses():
    """deflate of zeros is a short pattern with long runs: the payload is as hard to fingerprint
    as its content."""
    bomb = gzip_bomb(64 << 20)
    assert len(collapse(bomb)) < 4 * BLOCK


@pytest.mark.parametrize("data", [
    os.urandom(1 << 20),
    b"".join(b"@r%d\nACGTTGCA%d\n+\nFFFFFFFF\n" % (i, i % 7) for i in range(50_000)),
    b"".join(b'{"id": %d, "state": "Running", "cycle": %d}\n' % (i, i % 151) for i in range(20_000)),
])
def test_content_without_repetition_is_the_same_object(data):
    assert collapse(data) is data
