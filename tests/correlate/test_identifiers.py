from __future__ import annotations

from sandbox.correlate.identifiers import IdentifierMatcher


def test_whole_tokens_case_insensitive():
    m = IdentifierMatcher([{"value": "PT-1", "kind": "sample_id", "samples": ["PT-1"]},
                           {"value": "HMTFYDRXX", "kind": "flowcell", "samples": []}])
    hits = m.find(b"x=pt-1&y=PT-12&z=aPT-1&fc=/runs/hmtfydrxx/")
    assert [(s, e, i["value"]) for s, e, i in hits] == [(2, 6, "PT-1"), (32, 41, "HMTFYDRXX")]
    assert IdentifierMatcher([]).find(b"anything") == []
