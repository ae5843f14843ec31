"""Reads written column by column are put back read by read; other bases and text are left alone."""

from __future__ import annotations

import random

from sandbox.decode import Budget, expand
from sandbox.decode.transposed import MAX_GUESSES, TransposedDecoder, layout

CHAIN = ("tcp", "test")


def _reads(count: int, length: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(rng.choice(b"ACGT") for _ in range(length)) for _ in range(count)]


def _columns(reads: list[bytes]) -> list[bytes]:
    return [bytes(read[i] for read in reads) for i in range(len(reads[0]))]


def _put_back(reads: list[bytes]) -> bytes:
    return b"".join(read + b"\n" for read in reads)


def test_a_column_a_line_is_put_back():
    for count, length in ((108, 151), (20, 30), (500, 36), (40, 1000)):
        reads = _reads(count, length)
        for ending in (b"\n", b"\r\n"):
            data = ending.join(_columns(reads)) + ending
            assert list(TransposedDecoder.decode(data, Budget(1 << 26, "t"))) == [
                (f"transposed (reads of {length})", _put_back(reads))]


def test_flat_bases_are_put_back_for_each_length_that_divides():
    reads = _reads(108, 151)
    views = dict(TransposedDecoder.decode(b"".join(_columns(reads)), Budget(1 << 26, "t")))
    assert views["transposed (reads of 151)"] == _put_back(reads)
    assert list(views)[0] == "transposed (reads of 151)"          # the usual lengths first
    assert all(108 * 151 % int(label.split()[-1][:-1]) == 0 for label in views)
    many = b"A" * (2 ** 6 * 3 ** 3 * 5 ** 2)                     # a length with many divisors
    assert len(dict(TransposedDecoder.decode(many, Budget(1 << 26, "t")))) == MAX_GUESSES


def test_reached_through_gzip_and_the_registry():
    import gzip
    reads = _reads(120, 100)
    views = {v.chain[len(CHAIN):]: v.data for v in expand(gzip.compress(b"".join(_columns(reads))), CHAIN).views}
    assert views[("gzip", "transposed (reads of 100)")] == _put_back(reads)


def test_what_is_not_transposed_bases_is_left_alone():
    reads = _reads(50, 150)
    text = b"The sequencer uploads its run metrics to the vendor portal every night.\n" * 40
    fasta = b">chr\n" + b"\n".join(b"".join(reads)[i:i + 60] for i in range(0, 7500, 60)) + b"\n"
    uneven = b"\n".join(_columns(reads))[:-7]                       # its last line cut
    prime = b"A" * 7919                                             # a length no read length divides
    for data in (text, fasta, uneven, prime, b"ACGT" * 100, _put_back(reads[:5])):
        assert layout(data) is None, data[:40]
    assert list(TransposedDecoder.decode(b"".join(_columns(reads)), Budget(100, "t"))) == []
