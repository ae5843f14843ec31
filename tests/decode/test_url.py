"""Percent-encoding: form values by key, whole-view decoding, numpy unquote vs urllib."""

from __future__ import annotations

import base64
import gzip
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from sandbox.decode import expand
from sandbox.decode.url import UrlDecoder, unquote

CHAIN = ("tcp",)
READS = b"@r1\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" * 20


def test_form_values_by_key():
    blob = base64.b64encode(gzip.compress(READS)).decode()
    body = urllib.parse.urlencode({"run": "A00123", "file": blob, "note": "sample NA12878 from the bench"})
    views = {v.chain: v.data for v in expand(body.encode(), CHAIN).views}
    assert views[CHAIN + ("url:file", "base64", "gzip")] == READS
    assert views[CHAIN + ("url:note",)] == b"sample NA12878 from the bench"


def test_whole_percent_encoded_text():
    data = urllib.parse.quote(READS.decode()).encode()
    views = {v.chain: v.data for v in expand(data, CHAIN).views}
    assert views[CHAIN + ("url",)] == READS


def test_plain_sentences_and_base64_are_not_forms():
    assert not UrlDecoder.sniff(b"the rate is 5% of 20 = 1 and that is all folks")
    assert list(UrlDecoder.decode(b"QUNHVEFDR1RBQ0dUQUNHVA==", None)) == []


@given(st.binary(max_size=200))
def test_unquote_matches_urllib(raw):
    quoted = urllib.parse.quote_from_bytes(raw).encode()
    assert unquote(quoted, plus=False) == raw
    assert unquote(quoted.replace(b"%20", b"+"), plus=True) == raw


@given(st.text(alphabet="%0aAfFgz+ ", max_size=40))
def test_unquote_on_odd_escapes_matches_urllib(text):
    data = text.encode()
    assert unquote(data, plus=False) == urllib.parse.unquote_to_bytes(data)


def test_a_value_of_base64_sent_unescaped_is_also_read_with_its_plus():
    """``curl -d "data=$(base64 f)"``: the "+" was read as a space, the base64 broken."""
    blob = gzip.compress(bytes(range(256)) * 8)
    text = base64.b64encode(blob)
    assert b"+" in text
    views = {v.chain[-1]: v.data for v in expand(b"device=NS-1&data=" + text, ("tcp",)).views}
    assert views["url:data(+)"] == text and blob in views.values()
