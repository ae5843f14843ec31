"""The vectorised run finder against a regex, across window boundaries."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.decode import text


@settings(max_examples=300)
@given(
    st.binary(max_size=600).map(lambda b: bytes(b"aB0 -"[x % 5] for x in b)),
    st.integers(1, 40),
    st.integers(2, 9),
)
def test_runs_match_regex(data, window, min_len):
    old = text.WINDOW
    text.WINDOW = window
    try:
        got = [(s, e) for s, e, _ in text.runs(data, text.B64, min_len, need=text.LOWER | text.DIGIT)]
    finally:
        text.WINDOW = old
    want = [
        (m.start(), m.end())
        for m in re.finditer(rb"[aB0-]{%d,}" % min_len, data)
        if b"a" in m.group() and b"0" in m.group()
    ]
    assert got == want


def test_looks_textual():
    assert text.looks_textual(b"plain text\n" * 1000)
    assert text.looks_textual("größe ümlaut text".encode() * 500)
    assert not text.looks_textual(bytes(range(256)) * 100)
    assert not text.looks_textual(bytes(100000))
