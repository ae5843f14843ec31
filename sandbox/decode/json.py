"""JSON and NDJSON: every string value with its path (label "json:$.a.b[2]", NDJSON
"ndjson:<line>:$.a").  Arrays of byte values (Node's Buffer.toJSON) are read as bytes too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.limits import MIN_TEXT

# Nesting deeper than this is a structure bomb; json.loads would hit Python's recursion limit.
MAX_NESTING = 200
# A list of this many ints in 0..255 is read as bytes ({"type":"Buffer","data":[...]}).
MIN_BYTE_ARRAY = 16
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPEN = b"{["


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _KEY.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _byte_array(items: list) -> bytes | None:
    if len(items) < MIN_BYTE_ARRAY:
        return None
    if all(type(v) is int and 0 <= v <= 255 for v in items):
        return bytes(items)
    return None


def strings(doc: Any, prefix: str) -> Iterator[tuple[str, bytes]]:
    """Depth-first (document order) string values of a parsed document, with their paths."""
    stack: list[tuple[str, Any]] = [("$", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if len(node) >= MIN_TEXT:
                yield f"{prefix}{path}", node.encode("utf-8", "surrogatepass")
        elif isinstance(node, dict):
            stack.extend((_step(path, k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            raw = _byte_array(node)
            if raw is not None:
                yield f"{prefix}{path}(bytes)", raw
            else:
                stack.extend((_step(path, i), v) for i, v in reversed(list(enumerate(node))))


def _nesting_ok(data: bytes) -> bool:
    """Cheap bound on nesting: more opening brackets in a row than MAX_NESTING is a bomb."""
    return b"[" * MAX_NESTING not in data and b"{" * MAX_NESTING not in data


def _load(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


class JsonDecoder(Decoder):
    name = "json"
    text = True
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = data[:64].lstrip()
        tail = data[-64:].rstrip()
        return bool(head) and head[0] in _OPEN and bool(tail) and tail[-1] in b"}]"

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if not _nesting_ok(data):
            return
        doc = _load(data)
        if doc is not None:
            yield from strings(doc, "json:")
            return
        # NDJSON: one document per line
        lines = data.split(b"\n")
        docs = []
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            doc = _load(line)
            if doc is None:
                if number == len(lines):
                    break  # a cut last line (truncated stream): keep the ones before
                return
            docs.append((number, doc))
        if len(docs) < 2:
            return
        for number, doc in docs:
            yield from strings(doc, f"ndjson:{number}:")
