"""Bases two to a symbol of sixteen, read as their base-4 digits; nothing made of other bytes."""

from __future__ import annotations

import os
import random

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.pairs import MIN_SYMBOLS, PairsDecoder, sixteen_symbols

READS = b"".join(bytes(random.Random(i).choices(b"ACGT", k=150)) for i in range(20))


def _paired(reads: bytes, order: bytes = b"ACGT") -> bytes:
    return bytes(4 * order.index(reads[i]) + order.index(reads[i + 1]) for i in range(0, len(reads) - 1, 2))


@pytest.mark.parametrize("order", [b"ACGT", b"TGCA", b"GATC"])
def test_each_symbol_is_its_two_digits_whatever_the_order_of_the_bases(order):
    [(label, out)] = PairsDecoder.decode(_paired(READS, order), Budget(1 << 20, "t"))
    assert label == "pairs of bases" and out == READS.translate(bytes.maketrans(order, bytes(range(4))))


def test_numbers_a_pair_are_reached_through_the_registry():
    text = b" ".join(b"%d" % v for v in _paired(READS))
    views = expand(text, ("t",)).views
    assert any(v.chain[-1] == "pairs of bases" for v in views)


@pytest.mark.parametrize("data", [os.urandom(4096), bytes(8) * 100,
                                  bytes(random.Random(1).choices(range(4), k=4096)), _paired(READS)[:MIN_SYMBOLS - 1]])
def test_other_bytes_give_no_view(data):
    assert not sixteen_symbols(data)
