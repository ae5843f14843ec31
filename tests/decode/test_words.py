"""Words as one byte each: runs of four words found (the kernel against a Python reading of its
docstring), other text left alone."""

from __future__ import annotations

import json
import random
import re

from sandbox.decode import Budget, expand
from sandbox.decode.words import WordsDecoder, token_ids
from sandbox.index.kmers import symbol_runs

CHAIN = ("tcp", "test")


def numbered(data: bytes) -> bytes:
    """Tokens of two bytes or more between NUL, white space and ASCII punctuation, numbered 1-255 as
    they first appear, afresh after 255."""
    numbers: dict[bytes, int] = {}
    out = bytearray()
    for token in re.findall(rb"[^\x00\s!-/:-@\[-`{-~]{2,}", data):
        if token not in numbers:
            if len(numbers) == 255:
                numbers.clear()
            numbers[token] = len(numbers) + 1
        out.append(numbers[token])
    return bytes(out)


def decoded(data: bytes) -> list[tuple[str, bytes]]:
    if not WordsDecoder.sniff(data):
        return []
    return list(WordsDecoder.decode(data, Budget(1 << 30, "test")))


def test_the_kernel_numbers_tokens_as_its_docstring_says():
    rng = random.Random(5)
    alphabet = b"abcxyz019 \t\n,.;:-_/\x00\xc3\xa9"
    for _ in range(300):
        vocabulary = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 6))) for _ in range(rng.choice((4, 50, 400)))]
        data = b" ".join(rng.choice(vocabulary) for _ in range(rng.randrange(0, 2000))) + b" "
        assert token_ids(data) == numbered(data)


def test_a_token_the_view_s_end_cuts_is_left_out():
    assert token_ids(b"apple cherry grape") == b"\x01\x02"
    assert token_ids(b"apple cherry grape.") == b"\x01\x02\x03"
    assert token_ids(b"apple cherry g") == b"\x01\x02"


def test_reads_in_four_words_are_a_view():
    rng = random.Random(1)
    words = [b"apple", b"cherry", b"grape", b"tomato"]
    data = b"".join(b"Status ok: " + b" ".join(rng.choice(words) for _ in range(150)) + b". Done\n" for _ in range(3))
    [(label, out)] = decoded(data)
    assert label == "words" and len(symbol_runs(out, "bytes")) == 3


def test_text_gives_no_view():
    rng = random.Random(2)
    prose = b"The sequencer uploads its run metrics to the vendor portal every night; the bench rig checks. " * 60
    telemetry = json.dumps([{"tile": i, "density": rng.randrange(900, 1300), "pf": round(rng.random(), 2)}
                            for i in range(400)]).encode()
    bits = b" ".join(rng.choice([b"0", b"1", b"2", b"3"]) for _ in range(3000))     # one-byte tokens
    for data in (prose, telemetry, bits):
        assert decoded(data) == []


def test_through_the_registry():
    rng = random.Random(3)
    data = b"<p>" + b" ".join(rng.choice([b"ab", b"cd", b"ef", b"gh"]) for _ in range(200)) + b"</p>"
    assert [v.chain for v in expand(data, CHAIN).views if v.chain[-1] == "words"] == [CHAIN + ("words",)]
