"""Bits hidden in prose: each channel, each way round and bit order, text or a stream hidden; ordinary
prose, logs, code and encodings give nothing."""

from __future__ import annotations

import base64
import gzip
import random

import numpy as np
import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.textbits import TextBitsDecoder
from tests.decode.test_xor import fastq

WORDS = ("the run finished and the flow cell was washed all lanes passed quality checks instrument reported "
         "nominal temperature pressure laser power stable reagents loaded cartridge primed").split()


def prose(letters: int, seed: int = 1) -> str:
    """Words of a run report, ``letters`` letters of them at least, a full stop now and then."""
    rng, out, count = random.Random(seed), [], 0
    while count < letters:
        word = rng.choice(WORDS)
        out.append(word + ("." if rng.random() < 0.1 else ""))
        count += len(word)
    return " ".join(out)


def bits_of(data: bytes, order: str = "big") -> list[int]:
    return np.unpackbits(np.frombuffer(data, np.uint8), bitorder=order).tolist()


def in_case(data: bytes, order: str = "big", one: int = 1) -> bytes:
    """``data``'s bits in the case of prose's letters (a capital ``one``), as many letters as bits."""
    bits = iter(bits_of(data, order))
    out = []
    for c in prose(8 * len(data)):
        if c.isalpha():
            bit = next(bits, None)
            if bit is None:
                break
            c = c.upper() if bit == one else c
        out.append(c)
    return "".join(out).encode()


def in_line_ends(data: bytes, one: int = 1) -> bytes:
    """``data``'s bits in blanks after each line's last word, eight a line (a tab ``one``)."""
    words = prose(60 * len(data)).split(" ")
    bits = bits_of(data)
    lines = [" ".join(words[i * 9:(i + 1) * 9]) for i in range(len(bits) // 8)]
    return "\n".join(line + "".join("\t" if b == one else " " for b in bits[n * 8:(n + 1) * 8])
                     for n, line in enumerate(lines)).encode() + b"\n"


def in_word_gaps(data: bytes, one: int = 1) -> bytes:
    """``data``'s bits in the gaps between words (two spaces ``one``)."""
    words = prose(8 * 8 * len(data)).split(" ")
    bits = bits_of(data)
    return "".join(w + ("  " if b == one else " ") for w, b in zip(words, bits, strict=False)).encode() + b"end"


HIDDEN = {"gzip": lambda: gzip.compress(fastq(20), mtime=0), "text": lambda: fastq(6)[:2000]}


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize(("channel", "write", "label"), [
    ("letter case", in_case, "text bits (letter case: a capital a one, highest bit first)"),
    ("line ends", in_line_ends, "text bits (line ends: a tab a one, highest bit first)"),
    ("word gaps", in_word_gaps, "text bits (word gaps: two spaces a one, highest bit first)"),
])
def test_each_channel_is_read(hidden, channel, write, label):
    data = HIDDEN[hidden]()
    found = dict(TextBitsDecoder.decode(write(data), Budget(1 << 30, "test")))
    assert found[label].startswith(data[:len(found[label])]) and len(found[label]) >= len(data) - 1, channel


@pytest.mark.parametrize(("order", "one"), [("big", 0), ("little", 1), ("little", 0)])
def test_either_way_round_and_either_bit_order(order, one):
    data = gzip.compress(fastq(20), mtime=0)
    label = (f"text bits (letter case: a capital a {'one' if one else 'zero'}, "
             f"{'highest' if order == 'big' else 'lowest'} bit first)")
    assert dict(TextBitsDecoder.decode(in_case(data, order, one), Budget(1 << 30, "test")))[label] == data


def test_reads_are_reached_through_the_registry():
    reads = fastq(20)
    views = expand(in_case(gzip.compress(reads, mtime=0)), ("t",)).views
    assert any(v.chain[1:3] == ("text bits (letter case: a capital a one, highest bit first)", "gzip")
               and v.data == reads for v in views)


BENIGN = {
    "prose": prose(20000).encode(),
    "title case": prose(20000).title().encode(),
    "shouting": prose(20000).upper().encode(),
    "markdown, two spaces after a stop": prose(20000).replace(". ", ".  ").encode(),
    "a log with trailing spaces": "\n".join(f"2026-12-07 12:00:{i % 60:02d} INFO cycle {i} ok   "
                                            for i in range(500)).encode(),
    "code": b"\n".join(b"    def readSampleSheetRow(self, rowIndex: int) -> SampleSheetRow:  # %d" % i
                       for i in range(200)),
    "base64": base64.encodebytes(random.Random(3).randbytes(20000)),
    "fastq": fastq(60),
}


@pytest.mark.parametrize("name", BENIGN)
def test_ordinary_text_gives_nothing(name):
    data = BENIGN[name]
    assert not TextBitsDecoder.sniff(data) or not list(TextBitsDecoder.decode(data, Budget(1 << 30, "test"))), name
