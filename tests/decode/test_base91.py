"""basE91: any bytes back exactly (against the reference encoder), cut views, and what is no basE91."""

from __future__ import annotations

import base64
import gzip
import os
import random

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.base91 import ALPHABET, Base91Decoder, decode_base91, is_base91
from tests.decode.test_xor import fastq

_SYMBOLS = ALPHABET.decode()


def base91(data: bytes) -> bytes:
    """Joachim Henke's encoder, as published."""
    b = n = 0
    out = []
    for byte in data:
        b |= byte << n
        n += 8
        if n > 13:
            v = b & 8191
            if v > 88:
                b >>= 13
                n -= 13
            else:
                v = b & 16383
                b >>= 14
                n -= 14
            out.append(_SYMBOLS[v % 91] + _SYMBOLS[v // 91])
    if n:
        out.append(_SYMBOLS[b % 91])
        if n > 7 or b > 90:
            out.append(_SYMBOLS[b // 91])
    return "".join(out).encode()


def test_any_bytes_come_back_exactly():
    """(A last lone symbol, where the encoder wrote one, makes no byte: it may be a pair the view cut.)"""
    rng = random.Random(3)
    for data in [rng.randbytes(size) for size in (1, 2, 3, 13, 100, 4097, 70_000)] + [bytes(5000)]:  # zeros: 14 bits a pair
        out = decode_base91(base91(data))
        assert out == data or len(base91(data)) % 2 and out == data[:-1], len(data)


def test_a_gzip_of_reads_is_reached_through_the_registry_in_lines_too():
    reads = fastq(60)
    encoded = base91(gzip.compress(reads))
    lines = b"\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    views = expand(lines, ("t",)).views
    assert any(v.chain[1:] == ("base91", "gzip") and v.data == reads for v in views)


def test_a_view_cut_anywhere_reads_a_prefix():
    data = os.urandom(3000)
    encoded = base91(data)
    for cut in (1, 2, 3, 500, 501, len(encoded) - 1):
        assert data.startswith(decode_base91(encoded[:cut])), cut


def test_the_budget_bounds_the_output():
    encoded = base91(os.urandom(100_000))
    budget = Budget(10_000, "test")
    [(label, out)] = Base91Decoder.decode(encoded, budget)
    assert label == "base91" and len(out) <= 10_000 and budget.hit


@pytest.mark.parametrize("name", ["base85", "z85-like b85", "base64", "hex", "prose", "json", "few symbols"])
def test_other_text_is_no_base91(name):
    rng = os.urandom(4000)
    sample = {"base85": base64.a85encode(rng), "z85-like b85": base64.b85encode(rng), "base64": base64.b64encode(rng),
              "hex": rng.hex().encode(), "prose": b"The run finished; the flow cell was washed. " * 40,
              "json": b'{"a":[1,2,3],"b":"x"}' * 100, "few symbols": base91(bytes(4000))}[name]
    assert not Base91Decoder.sniff(sample) and not is_base91(sample)
