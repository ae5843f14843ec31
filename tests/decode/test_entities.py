"""Bytes written as HTML or XML character references: decimal, hex, inside a page, and what is kept."""

from __future__ import annotations

import gzip
import os

import pytest

from sandbox.decode import expand
from sandbox.decode.entities import EntitiesDecoder, undo

CHAIN = ("tcp",)
BLOB = gzip.compress(b"@r1\nACGTTGCAACGTTGCAACGT\n+\nFFFFFFFFFFFFFFFFFFFF\n" * 4, mtime=0)
FORMS = {
    "decimal": "".join(f"&#{b};" for b in BLOB),
    "hex": "".join(f"&#x{b:x};" for b in BLOB),
    "upper-case hex, no semicolons": "".join(f"&#X{b:02X}" for b in BLOB),
    "past ASCII only": "".join(chr(b) if 32 < b < 127 and chr(b) not in "&<>" else f"&#{b};" for b in BLOB),
}


@pytest.mark.parametrize("form", FORMS)
def test_every_form_is_undone_inside_a_page_too(form):
    page = b"<html><body><pre id='dump'>" + FORMS[form].encode() + b"</pre></body></html>\n"
    ((label, out),) = EntitiesDecoder.decode(page, None)
    assert label == "entities" and BLOB in out
    views = {v.chain: v.data for v in expand(page, CHAIN).views}
    assert any(chain[:2] == CHAIN + ("entities",) and data.startswith(b"@r1\nACGT") for chain, data in views.items())


def test_any_bytes_come_back_exactly():
    """A code point below 256 is that byte: 128-159 too (no Windows-1252 reading)."""
    for _ in range(5):
        data = os.urandom(20_000)
        assert undo("".join(f"&#{b};" for b in data).encode()) == data
    assert undo(b"&#128;&#139;&#159;") == b"\x80\x8b\x9f"


def test_higher_code_points_are_utf8_and_names_their_text():
    assert undo(b"&#8217;&#x1F9EC;&amp;&lt;&eacute;") == "\u2019\U0001f9ec&<\u00e9".encode()


def test_what_is_no_reference_is_kept():
    kept = b"&#x110000; &#55296; &#xD800; &nosuchname; & ; &#; &#x; a&b end"
    assert undo(kept) == kept


def test_a_reference_cut_by_the_end_makes_no_byte():
    written = "".join(f"&#{b};" for b in BLOB).encode()
    for cut in range(1, 7):
        assert BLOB.startswith(undo(written[:-cut]))
    assert undo(b"ab&#x4") == b"ab" and undo(b"ab&am") == b"ab" and undo(b"ab&") == b"ab"


def test_few_references_are_no_encoding():
    for page in (b"<p>It&#8217;s ready &amp; waiting</p>" * 3, b"&#65;" * 15 + b" text " * 20):
        assert not EntitiesDecoder.sniff(page) or list(EntitiesDecoder.decode(page, None)) == [], page


def test_a_view_of_references_is_undone_whole():
    data = os.urandom(1 << 18)
    assert undo("".join(f"&#x{b:x};" for b in data).encode()) == data
