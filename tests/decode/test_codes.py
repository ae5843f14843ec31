"""Text in a few codes of several characters: each way (separators, widths) read a code a symbol; what
is text, bases, or codes too many, left alone."""

from __future__ import annotations

import random

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.codes import CodesDecoder
from tests.decode.test_xor import fastq

RNG = random.Random(8)
SEQS = [bytes(RNG.choice(b"ACGT") for _ in range(100)) for _ in range(40)]
MORSE = {ord("A"): b".-", ord("C"): b"-.-.", ord("G"): b"--.", ord("T"): b"-"}


def _coded(table: dict[int, bytes], between: bytes) -> bytes:
    return b"\n".join(between.join(table[b] for b in s) for s in SEQS) + b"\n"


def _numbered() -> bytes:
    """The bases as a code view has them: each its number from 0x80 as they first appear."""
    order = {b: 0x80 + i for i, b in enumerate(dict.fromkeys(b"".join(SEQS)))}
    return b"".join(bytes(order[b] for b in s) + b"\n" for s in SEQS)


WAYS = {
    "morse, spaces": (MORSE, b" ", "codes (spaces between)"),
    "morse, slashes": (MORSE, b"/", "codes (slashes between)"),
    "morse, bars": (MORSE, b"|", "codes (bars between)"),
    "punctuation pairs": (dict(zip(b"ACGT", (b"()", b"[]", b"<>", b"{}"), strict=True)), b"", "codes (2 bytes each)"),
    "three digits": ({c: b"%03d" % c for c in b"ACGT"}, b"", "codes (3 bytes each)"),
    "four letters": (dict(zip(b"ACGT", (b"wxyz", b"zyxw", b"xwzy", b"yzwx"), strict=True)), b"", "codes (4 bytes each)"),
}


@pytest.mark.parametrize("way", WAYS)
def test_every_way_is_read_a_code_a_symbol(way):
    table, between, label = WAYS[way]
    assert list(CodesDecoder.decode(_coded(table, between), Budget(1 << 30, "test"))) == [(label, _numbered())]


def test_codes_are_reached_through_the_registry():
    views = expand(_coded(MORSE, b" "), ("t",)).views
    assert any(v.chain[1:] == ("codes (spaces between)",) and v.data == _numbered() for v in views)


def test_the_budget_bounds_the_output():
    budget = Budget(500, "test")
    [(_, out)] = CodesDecoder.decode(_coded(MORSE, b" "), budget)
    assert len(out) <= 500 and budget.hit


BENIGN = {
    "reads": fastq(40),
    "bases alone": b"\n".join(SEQS) + b"\n",
    "prose": b"The run finished and the flow cell was washed; all lanes passed.\n" * 40,
    "digits": b"\n".join(b"%d" % RNG.randrange(10 ** 12) for _ in range(300)),
    "hex": RNG.randbytes(3000).hex().encode(),
    "too many codes": b" ".join(b"%02x" % RNG.randrange(256) for _ in range(2000)),
}


@pytest.mark.parametrize("name", BENIGN)
def test_text_bases_and_other_encodings_are_left_alone(name):
    data = BENIGN[name]
    assert not CodesDecoder.sniff(data) or list(CodesDecoder.decode(data, Budget(1 << 30, "test"))) == [], name
