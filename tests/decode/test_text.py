"""The compiled run finder against a regex; the lines of records found among runs."""

from __future__ import annotations

import base64
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.decode import text


@settings(max_examples=300)
@given(
    st.binary(max_size=600).map(lambda b: bytes(b"aB0 -\xff"[x % 6] for x in b)),
    st.integers(1, 9),
)
def test_runs_match_regex(data, min_len):
    got = [(s, e) for s, e, _ in text.runs(data, text.B64, min_len, need=text.LOWER | text.DIGIT)]
    old = text.RUNS_PER_CALL
    text.RUNS_PER_CALL = 1  # the kernel resumes where a full buffer stopped it
    try:
        assert [(s, e) for s, e, _ in text.runs(data, text.B64, min_len, need=text.LOWER | text.DIGIT)] == got
    finally:
        text.RUNS_PER_CALL = old
    want = [
        (m.start(), m.end())
        for m in re.finditer(rb"[aB0-]{%d,}" % min_len, data)
        if b"a" in m.group() and b"0" in m.group()
    ]
    assert got == want


@settings(max_examples=200)
@given(st.binary(max_size=400).map(lambda b: bytes(b"aF0g-Z \n"[x % 8] for x in b)), st.integers(1, 6))
def test_runs_classes_are_the_or_of_the_run(data, min_len):
    for start, end, bits in text.runs(data, text.HEX, min_len):
        assert re.fullmatch(rb"[0-9a-fA-F]+", data[start:end]) and end - start >= min_len
        classes = np.frombuffer(text._MASKED[text.HEX], np.uint8)[np.frombuffer(data[start:end], np.uint8)]
        assert bits == int(np.bitwise_or.reduce(classes))
        assert (start == 0 or data[start - 1] not in b"0123456789abcdefABCDEF")
        assert (end == len(data) or data[end] not in b"0123456789abcdefABCDEF")


def test_looks_textual():
    assert text.looks_textual(b"plain text\n" * 1000)
    assert text.looks_textual("größe ümlaut text".encode() * 500)
    assert not text.looks_textual(bytes(range(256)) * 100)
    assert not text.looks_textual(bytes(100000))


def _records(line_count: int, width: int, header: int, seed: int) -> tuple[bytes, list[bytes]]:
    rng = random.Random(seed)
    lines = [base64.b64encode(rng.randbytes(width * 3 // 4)) for _ in range(line_count)]
    return b"".join(rng.randbytes(header) + line for line in lines), lines


@pytest.mark.parametrize("header", [2, 6, 12])
def test_strided_lines_are_the_lines_of_records_whatever_letters_their_headers_hold(header):
    data, lines = _records(200, 64, header, header)
    found = text.strided_lines([(a, b) for a, b, _ in text.runs(data, text.B64, text.ENCODED_RUN)])
    assert found is not None and [data[a:b] for a, b in found] == lines


def test_strided_lines_are_none_for_runs_that_are_no_records():
    rng = random.Random(3)
    data = b"".join(rng.randbytes(rng.randrange(10, 400)) + base64.b64encode(rng.randbytes(60)) for _ in range(50))
    assert text.strided_lines([(a, b) for a, b, _ in text.runs(data, text.B64, text.ENCODED_RUN)]) is None
    assert text.strided_lines([(0, 40), (50, 90)]) is None
