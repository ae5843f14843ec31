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


def _tensor(kind: str) -> bytes:
    """The bases of SEQS as an array a pipeline writes: codes 0-3 as numbers of each width, or one-hot rows."""
    import numpy as np

    codes = np.frombuffer(b"".join(SEQS).translate(bytes.maketrans(b"ACGT", b"\0\1\2\3")), np.uint8)
    return {"int16 levels": np.array([-20000, -6000, 6000, 20000], "<i2")[codes].tobytes(),
            "float32 codes": codes.astype("<f4").tobytes(),
            "int64 codes": codes.astype("<i8").tobytes(),
            "uint8 one-hot": np.eye(4, dtype=np.uint8)[codes].tobytes(),
            "float32 one-hot": np.eye(4, dtype="<f4")[codes].tobytes(),
            "float32 codes after a header of 7 bytes": b"TENSOR1" + codes.astype("<f4").tobytes()}[kind]


@pytest.mark.parametrize(("kind", "label"), [
    ("int16 levels", "codes (2-byte numbers)"), ("float32 codes", "codes (4-byte numbers)"),
    ("int64 codes", "codes (8-byte numbers)"), ("uint8 one-hot", "codes (4-byte numbers)"),
    ("float32 one-hot", "codes (16-byte numbers)"), ("float32 codes after a header of 7 bytes", "codes (4-byte numbers"),
])
def test_binary_codes_a_pipeline_writes_are_read_a_code_a_symbol(kind, label):
    """Bases as a tensor (one-hot rows, float or int codes) or an audio modem's levels: each code a symbol."""
    data = _tensor(kind)
    [(got_label, out)] = CodesDecoder.decode(data, Budget(1 << 30, "test"))
    bases = b"".join(SEQS)
    # each base one symbol, the same throughout (a code read across two, where its other half is always
    # the same bytes, is one symbol too: the bases then one code later)
    assert got_label.startswith(label.split(" from")[0])
    assert any(len(set(zip(out[len(out) - len(bases) + shift:], bases, strict=False))) == 4 for shift in (0, 1))


BINARY_BENIGN = {
    "random": lambda: random.Random(2).randbytes(65536),
    "zeros with a few fields": lambda: (b"\x01\x01\x06\x00" + bytes(540)) * 100,
    "a flat image": lambda: bytes([250, 250, 250, 255]) * 20000,
    "16-bit audio": lambda: __import__("numpy").rint(__import__("numpy").sin(__import__("numpy").arange(40000) / 7)
                                                     * 9000).astype("<i2").tobytes(),
}


@pytest.mark.parametrize("name", BINARY_BENIGN)
def test_binary_views_that_are_no_codes_give_nothing(name):
    data = BINARY_BENIGN[name]()
    assert not CodesDecoder.sniff(data) or not list(CodesDecoder.decode(data, Budget(1 << 30, "test"))), name


def test_a_line_past_the_sample_that_is_no_whole_number_of_codes_stops_nothing():
    """(A sender's odd line past the first 4 KiB raised in numpy, and the view's codes were not read.)"""
    table, between, label = WAYS["punctuation pairs"]
    data = _coded(table, between) * 3 + b"()[]<\n" + _coded(table, between)
    [(got, out)] = CodesDecoder.decode(data, Budget(1 << 30, "test"))
    assert got == label and out.endswith(_numbered())
