"""Identifier matching: whole tokens in text, and hex / base64 forms inside longer encoded text."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from sandbox.correlate.identifiers import IdentifierMatcher
from sandbox.index.identifiers import encoded_forms

SAMPLE = {"value": "PT9936-T1", "kind": "sample_id", "samples": ["PT9936-T1"]}


def test_whole_tokens_case_insensitive():
    m = IdentifierMatcher([{"value": "PT-1", "kind": "sample_id", "samples": ["PT-1"]},
                           {"value": "HMTFYDRXX", "kind": "flowcell", "samples": []}])
    hits = m.find(b"x=pt-1&y=PT-12&z=aPT-1&fc=/runs/hmtfydrxx/")
    assert [(s, e, i["value"]) for s, e, i, _ in hits] == [(2, 6, "PT-1"), (32, 41, "HMTFYDRXX")]
    assert IdentifierMatcher([]).find(b"anything") == []


@pytest.mark.parametrize("lead", [b"", b"a", b"ab", b"{\"id\":\"", b"sample="])
@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
def test_short_identifier_in_base64_at_every_alignment(lead, alphabet):
    """"PT9936-T1" is 12 base64 characters: shorter than the decoders look at, found anyway."""
    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    blob = encode(lead + SAMPLE["value"].encode() + b"\xfb\xff and more")
    hits = IdentifierMatcher([SAMPLE]).find(b"GET /q?token=" + urllib.parse.quote(blob).encode() + b" HTTP/1.1")
    assert [(i["value"], enc) for _, _, i, enc in hits] == [("PT9936-T1", "base64")]


def test_identifier_in_hex_either_case():
    m = IdentifierMatcher([SAMPLE])
    for text in (b"id=" + SAMPLE["value"].encode().hex().encode(), b"ID:" + SAMPLE["value"].encode().hex().upper().encode()):
        assert [(i["value"], enc) for _, _, i, enc in m.find(text)] == [("PT9936-T1", "hex")]


def test_short_identifiers_have_no_encoded_forms():
    assert encoded_forms("M070") == {"hex": [], "base64": []}  # 4 bytes: chance matches in encoded data
    forms = encoded_forms("HMTFYDRXX")
    assert forms["hex"] == [b"484d54465944525858"] and len(forms["base64"]) == 3


def test_no_identifier_of_real_runs_in_the_public_traces(shared_data, tmp_path):
    """Every byte of the public traces (and the views they decode to) against the identifiers of
    the real run folders, in every form: nothing is found."""
    from sandbox.analyzer import Analyzer
    from sandbox.captures import open_capture
    from sandbox.engine import Engine
    from sandbox.index import build_index

    runs = sorted(p for p in (shared_data / "illumina").iterdir() if p.is_dir())
    indexes = [build_index(run, cache_dir=tmp_path / run.name) for run in runs]
    matchers = [IdentifierMatcher(ix.identifiers) for ix in indexes]
    assert sum(len(m._exact[1]) for m in matchers) > 20  # many base64 forms are being looked for
    traces = sorted((shared_data / "captures" / "public-traces").glob("*.pcap*"))
    found = []
    for trace in traces:
        found += [(trace.name, i["value"]) for m in matchers for _, _, i, _ in m.find(trace.read_bytes())]
        engine = Engine(indexes, analyzer=Analyzer(indexes))
        for segment in open_capture(trace):
            engine.feed(segment)
        found += [(trace.name, f.identifiers) for f in engine.finish() if "identifier" in f.evidence_kinds]
    assert len(traces) > 100 and found == []
