"""Bytes written as escapes: Python's repr, C's octal, JavaScript's \\u00HH, and what is not undone."""

from __future__ import annotations

import gzip
import os

import pytest

from sandbox.decode import expand
from sandbox.decode.escapes import EscapesDecoder, undo

CHAIN = ("tcp",)
BLOB = gzip.compress(b"@r1\nACGTTGCAACGTTGCAACGT\n+\nFFFFFFFFFFFFFFFFFFFF\n" * 4, mtime=0)
FORMS = {
    "python repr": repr(BLOB),
    "octal": "".join(f"\\{b:03o}" for b in BLOB),
    "javascript": "".join(f"\\u{b:04x}" for b in BLOB),
}


@pytest.mark.parametrize("form", FORMS)
def test_every_form_is_undone_inside_text_too(form):
    line = b"2026-12-06 12:00:01 upload body=" + FORMS[form].encode() + b" status=200\n"
    ((label, out),) = EscapesDecoder.decode(line, None)
    assert label == "escapes" and BLOB in out
    views = {v.chain: v.data for v in expand(line, CHAIN).views}
    assert any(chain[:2] == CHAIN + ("escapes",) and data.startswith(b"@r1\nACGT")
               for chain, data in views.items())


def test_python_repr_of_any_bytes_is_undone_exactly():
    for _ in range(10):
        data = os.urandom(50_000)
        assert undo(repr(data)[2:-1].encode()) == data


def test_escaped_backslashes_and_what_is_no_escape_are_kept():
    assert undo(b"\\\\x41 \\\\\\x41 \\\\u0041 \\q \\x4z \\u0100") == b"\\x41 \\A \\u0041 \\q \\x4z \\u0100"
    assert undo(b"C:\\\\new\\\\table") == b"C:\\new\\table"


def test_an_escape_cut_by_the_end_makes_no_byte():
    written = "".join(f"\\x{b:02x}" for b in BLOB).encode()
    for cut in range(1, 9):
        assert BLOB.startswith(undo(written[:-cut]))
    assert undo(b"ab\\\\") == b"ab\\" and undo(b"ab\\u00") == b"ab"


def test_few_escapes_are_no_encoding():
    for text in (b"C:\\Users\\lab\\runs\\x\\n" * 3, b"line\\n" * 40, b"\\x41" * 15 + b" " * 40):
        assert not EscapesDecoder.sniff(text) or list(EscapesDecoder.decode(text, None)) == [], text
