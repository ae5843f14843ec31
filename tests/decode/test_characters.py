"""Characters of more than one byte as one byte each: runs of four found (zero-width characters,
emoji, letters of other scripts), other text left alone."""

from __future__ import annotations

import os
import random

from sandbox.decode import Budget, expand
from sandbox.decode.characters import CharactersDecoder, as_bytes
from sandbox.index.kmers import symbol_runs

CHAIN = ("tcp", "test")
ZERO_WIDTH = "\u200b\u200c\u200d\u2060"


def bases(n: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def written(seq: str, symbols: str) -> str:
    return seq.translate(str.maketrans("ACGT", symbols))


def decoded(data: bytes) -> list[tuple[str, bytes]]:
    if not CharactersDecoder.sniff(data):
        return []
    return list(CharactersDecoder.decode(data, Budget(1 << 30, "test")))


def test_wide_characters_are_numbered_as_they_first_appear():
    assert as_bytes("a\u200bb\u200c\u200b€c") == b"a\x80b\x81\x80\x82c"


def test_the_numbering_starts_afresh_past_128_characters():
    """So four characters of a run are four bytes whatever came before them."""
    decoys = "".join(chr(0x4E00 + i) for i in range(200))
    run = written(bases(300), ZERO_WIDTH)
    out = as_bytes(decoys + run)
    assert len(out) == 500 and len(set(out[-290:])) == 4
    assert len(symbol_runs(out, "bytes"))


def test_separators_between_wide_characters_are_dropped_line_ends_kept():
    assert as_bytes("α, β; γ δ\nα") == b"\x80\x81\x82\x83\n\x80"
    assert as_bytes("x, y") == b"x, y"


def test_a_prefix_gives_a_prefix():
    text = "Status: " + written(bases(500), "αβγδ") + " ok ✓ " + written(bases(100, 2), ZERO_WIDTH)
    whole = as_bytes(text)
    for cut in (10, 100, 400, len(text) - 1):
        assert whole.startswith(as_bytes(text[:cut]))


def test_reads_in_four_wide_characters_are_a_view():
    for symbols in (ZERO_WIDTH, "αβγδ", "\U0001F600\U0001F601\U0001F602\U0001F603"):
        data = ("Run nominal " + written(bases(150), symbols) + " done\n").encode() * 3
        [(label, out)] = decoded(data)
        assert label == "characters" and len(symbol_runs(out, "bytes")) == 3


def test_text_in_other_scripts_gives_no_view():
    rng = random.Random(3)
    chinese = "".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(3000)).encode()
    greek = ("Το όργανο ανεβάζει τις μετρήσεις του κάθε βράδυ. " * 40).encode()
    for data in (chinese, greek):
        assert CharactersDecoder.sniff(data) and decoded(data) == []


def test_bytes_that_are_not_utf8_are_not_decoded():
    assert not CharactersDecoder.sniff(os.urandom(1 << 16))
    data = ("x" + written(bases(200), ZERO_WIDTH)).encode()
    assert decoded(data[:-1])         # a character cut at the end is dropped
    assert decoded(b"\xff" + data) == []


def test_through_the_registry():
    data = ("<p>" + written(bases(200), ZERO_WIDTH) + "</p>").encode()
    assert [v.chain for v in expand(data, CHAIN).views if v.chain[-1] == "characters"] == [CHAIN + ("characters",)]
