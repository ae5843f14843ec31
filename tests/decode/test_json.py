"""JSON special cases: paths, NDJSON, byte arrays, JSON inside a string, truncated NDJSON."""

from __future__ import annotations

import base64
import gzip
import json
import random
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.decode import expand
from sandbox.decode.json import JsonDecoder

CHAIN = ("tcp",)
LONG = "ACGTTGCAACGTTGCAACGT"


def _labels(data: bytes) -> dict[str, bytes]:
    return dict(JsonDecoder.decode(data, None))


def test_paths_for_keys_and_indexes():
    doc = {"a": {"b": [1, LONG, {"c d": LONG + "x"}]}, "é": LONG + "y", "s": "short"}
    got = _labels(json.dumps(doc).encode())
    assert got == {
        "json:$.a.b[1]": LONG.encode(),
        'json:$.a.b[2]["c d"]': (LONG + "x").encode(),
        'json:$["\\u00e9"]': (LONG + "y").encode(),
    }


def test_escapes_are_undone():
    got = _labels(b'{"data": "line one\\nline \\u0074wo \\/ slash"}')
    assert got == {"json:$.data": b"line one\nline two / slash"}


def test_ndjson_lines():
    data = b"\n".join(json.dumps({"seq": LONG + str(i)}).encode() for i in range(3)) + b"\n"
    assert _labels(data) == {f"ndjson:{i + 1}:$.seq": (LONG + str(i)).encode() for i in range(3)}


def test_ndjson_with_cut_last_line():
    data = b"\n".join(json.dumps({"seq": LONG + str(i)}).encode() for i in range(3)) + b'\n{"seq": "ACG'
    assert JsonDecoder.sniff(data + b"}")
    assert set(_labels(data + b"}")) == {"ndjson:1:$.seq", "ndjson:2:$.seq", "ndjson:3:$.seq"}


def test_node_buffer_array_is_bytes():
    doc = {"type": "Buffer", "data": list(b"@r1\nACGTACGTACGTACGT\n")}
    assert _labels(json.dumps(doc).encode()) == {"json:$.data(bytes)": b"@r1\nACGTACGTACGTACGT\n"}


def test_java_signed_byte_array_is_bytes():
    blob = gzip.compress(b"@r1\nACGTACGTACGTACGT\n+\nFFFFFFFFFFFFFFFF\n", mtime=0)
    signed = list(struct.unpack(f"{len(blob)}b", blob))            # Gson's byte[]
    assert min(signed) < 0
    assert _labels(json.dumps({"payload": signed}).encode()) == {"json:$.payload(bytes)": blob}
    assert _labels(json.dumps({"t": [1, 2, 300] * 8}).encode()) == {}       # not bytes: no view


def test_a_binary_string_is_read_as_its_bytes_text_with_accents_is_not():
    blob = gzip.compress(b"@r1\nACGTACGTACGTACGT\n+\nFFFFFFFFFFFFFFFF\n", mtime=0)
    got = _labels(json.dumps({"d": blob.decode("latin-1")}).encode())    # readAsBinaryString
    assert got["json:$.d(latin-1)"] == blob
    assert got["json:$.d"] == blob.decode("latin-1").encode()
    views = {v.chain: v.data for v in expand(json.dumps({"d": blob.decode("latin-1")}).encode(), CHAIN).views}
    assert views[CHAIN + ("json:$.d(latin-1)", "gzip")].startswith(b"@r1\nACGT")
    prose = "Échantillon prélevé à l'hôpital, séquencé le 3 décembre"
    assert _labels(json.dumps({"note": prose}).encode()) == {"json:$.note": prose.encode()}
    wide = blob.decode("latin-1") + "\u20ac"                          # a character above U+00FF: not bytes
    assert "json:$.d(latin-1)" not in _labels(json.dumps({"d": wide}).encode())


def test_an_array_of_equal_strings_is_also_read_joined():
    blob = gzip.compress(b"@r1\nACGTACGTACGTACGT\n+\nFFFFFFFFFFFFFFFF\n" + bytes(range(256)) * 3, mtime=0)
    lines = [line.decode() for line in base64.encodebytes(blob).splitlines()]
    assert len(lines) > 3
    got = _labels(json.dumps({"chunks": lines}).encode())
    assert got["json:$.chunks[*]"] == "".join(lines).encode()
    views = {v.chain: v.data for v in expand(json.dumps({"chunks": lines}).encode(), CHAIN).views}
    assert views[CHAIN + ("json:$.chunks[*]", "base64", "gzip")].startswith(b"@r1\nACGT")
    names = ["NA12878-blood-sample", "NA12891-father-sample-long", "NA12892"]     # lengths differ: no chunks
    assert "json:$.n[*]" not in _labels(json.dumps({"n": names}).encode())
    assert "json:$.n[*]" not in _labels(json.dumps({"n": ["x" * 20]}).encode())     # one element


def test_json_inside_a_json_string():
    inner = json.dumps({"reads": LONG * 2})
    outer = json.dumps({"payload": inner}).encode()
    views = {v.chain: v.data for v in expand(outer, CHAIN).views}
    assert views[CHAIN + ("json:$.payload", "json:$.reads")] == (LONG * 2).encode()


def test_invalid_and_bomb_documents_yield_nothing():
    assert _labels(b"{not json}") == {}
    assert _labels(b"[" * 100000 + b"]" * 100000) == {}
    assert _labels(b"[ " * 5000 + b"]" * 5000) == {}


def _every_line(data: bytes) -> dict[str, bytes]:
    """What NDJSON decodes to by definition: every line parsed, every long string kept."""
    from sandbox.decode.json import strings

    out: dict[str, bytes] = {}
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.strip():
            out.update(strings(json.loads(line), f"ndjson:{number}:"))
    return out


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40) | st.text(alphabet="ACGT:,[]{}\"\\\n", min_size=10, max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=8), _values, min_size=1, max_size=5), min_size=2, max_size=8),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_ndjson_parses_only_lines_with_long_strings_and_misses_none(docs, newline, ascii_only):
    data = newline.join(json.dumps(d, ensure_ascii=ascii_only) for d in docs).encode() + b"\n"
    lines = {label: out for label, out in _labels(data).items() if not label.startswith("ndjson:*:")}
    assert lines == _every_line(data)     # (the joins across lines: test_chunks_in_records_lines_and_keys...)


def test_telemetry_lines_without_long_strings_are_not_parsed(monkeypatch):
    from sandbox.decode import json as decoder

    lines = [json.dumps({"seq": n, "state": "Running", "temps": [30.1, 29.8, 31.2, 30.0], "ok": True})
             for n in range(2000)]
    lines[1234] = json.dumps({"seq": 1234, "blob": LONG * 2})
    parsed = []
    real = decoder._load
    monkeypatch.setattr(decoder, "_load", lambda text: parsed.append(text) or real(text))
    assert _labels("\n".join(lines).encode()) == {"ndjson:1235:$.blob": (LONG * 2).encode()}
    assert len(parsed) == 2  # the whole buffer (not one document), then line 1235 alone
    parsed.clear()
    assert _labels("\n".join(lines[:1000] + lines[1235:]).encode()) == {}
    assert not parsed


def test_a_line_that_is_no_document_makes_it_no_ndjson():
    good = json.dumps({"seq": LONG}).encode()
    assert _labels(good + b"\nnot json at all\n" + good + b"\n") == {}
    assert set(_labels(good + b"\n\n  " + good + b"  \r\n" + good)) == {"ndjson:1:$.seq", "ndjson:3:$.seq",
                                                                        "ndjson:4:$.seq"}


def test_chunks_in_records_lines_and_keys_are_read_joined():
    """Base64 cut into pieces of 64 characters, one an array's record, an NDJSON line or a key: each
    piece was decoded alone (48 bytes of a gzip)."""
    rng = random.Random(3)
    text = base64.b64encode(gzip.compress(bytes(rng.choice(b"ACGT") for _ in range(3000)))).decode()
    pieces = [text[i:i + 64] for i in range(0, len(text), 64)]
    records = _labels(json.dumps({"parts": [{"n": i, "c": c} for i, c in enumerate(pieces)]}).encode())
    assert records["json:$.parts[*].c"] == text.encode()
    lines = _labels(b"\n".join(json.dumps({"n": i, "c": c}).encode() for i, c in enumerate(pieces)) + b"\n")
    assert lines["ndjson:*:$.c"] == text.encode()
    keys = _labels(json.dumps({"upload": {c: i for i, c in enumerate(pieces)}}).encode())
    assert keys["json:$.upload{keys}"] == text.encode()
    keyed = _labels(b"\n".join(json.dumps({c: i}).encode() for i, c in enumerate(pieces)) + b"\n")
    assert keyed["ndjson:*:${keys}"] == text.encode()


def test_values_of_other_lengths_are_not_joined():
    doc = json.dumps([{"msg": f"instrument self-test {i} passed" + "." * (i % 5)} for i in range(50)]).encode()
    assert not [label for label in _labels(doc) if "*" in label]
