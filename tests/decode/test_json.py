"""JSON special cases: paths, NDJSON, byte arrays, JSON inside a string, truncated NDJSON."""

from __future__ import annotations

import json

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


def test_json_inside_a_json_string():
    inner = json.dumps({"reads": LONG * 2})
    outer = json.dumps({"payload": inner}).encode()
    views = {v.chain: v.data for v in expand(outer, CHAIN).views}
    assert views[CHAIN + ("json:$.payload", "json:$.reads")] == (LONG * 2).encode()


def test_invalid_and_bomb_documents_yield_nothing():
    assert _labels(b"{not json}") == {}
    assert _labels(b"[" * 100000 + b"]" * 100000) == {}
    assert _labels(b"[ " * 5000 + b"]" * 5000) == {}
