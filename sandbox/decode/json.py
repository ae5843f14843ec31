"""JSON and NDJSON: every string value with its path (label "json:$.a.b[2]", NDJSON
"ndjson:<line>:$.a").  Arrays of byte values are read as bytes too: unsigned (Node's Buffer.toJSON)
or signed (Java's byte[] through Gson).  A string that holds binary bytes one character each
(JavaScript's "binary strings": FileReader.readAsBinaryString, String.fromCharCode) is read as
those bytes ("(latin-1)"): UTF-8 re-encoding made a gzip inside one unreadable.

Only strings of MIN_TEXT characters or more can hold encoded data, so a document is parsed only
where one bulk scan finds such a string literal or a byte array: a stream of telemetry lines with
short values costs two regex passes, not one ``json.loads`` per line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from sandbox.decode import numbers
from sandbox.decode.base import Budget, Decoder
from sandbox.decode.limits import MIN_TEXT

# Nesting deeper than this is a structure bomb; json.loads would hit Python's recursion limit.
MAX_NESTING = 200
# A list of this many ints in -128..255 is read as bytes ({"type":"Buffer","data":[...]}); of wider
# ints, as 16-, 32- or 64-bit words (a Uint32Array through JSON.stringify).
MIN_BYTE_ARRAY = 16
# A string of characters below U+0100 with a control character (C0 other than blanks, or C1) is
# binary bytes a character each: text, even with accents, has no control characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WIDE = re.compile(r"[^\x00-\xff]")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPEN = b"{["
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENER = np.zeros(256, dtype=bool)  # what a string value or key follows, by byte value
_OPENER[np.frombuffer(b":[,{", dtype=np.uint8)] = True
_BYTE_ARRAY = re.compile(rb"\[\s*-?\d{1,20}(?:\s*,\s*-?\d{1,20}){%d,}\s*\]" % (MIN_BYTE_ARRAY - 1))
# A line that cannot be an NDJSON document: its first or its last visible byte is not a bracket.
_BAD_LINE = re.compile(rb"^[ \t\r]*[^ \t\r\n\[{]|[^ \t\r\n\]}][ \t\r]*$", re.M)


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _KEY.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _byte_array(items: list) -> list[tuple[str, bytes]]:
    """An array of byte values as ("bytes", its bytes); of wider integers, as the words they may be
    (``numbers.words``); none for any other array."""
    if len(items) < MIN_BYTE_ARRAY or not all(type(v) is int for v in items):
        return []
    if all(-128 <= v <= 255 for v in items):
        return [("bytes", bytes(v & 0xFF for v in items))]
    if not all(-(1 << 63) <= v < 1 << 64 for v in items):
        return []
    signed = any(v < 0 for v in items)
    if signed and any(v >= 1 << 63 for v in items):
        return []
    return numbers.words(np.array(items, dtype=np.int64 if signed or max(items) < 1 << 63 else np.uint64))


def _chunks(items: list) -> bytes | None:
    """An array of strings of one length (MIN_TEXT or more; the last one shorter) is one text cut into
    chunks (base64 a line an element): joined, or None."""
    if len(items) < 2 or not all(type(v) is str for v in items):
        return None
    width = len(items[0])
    if width < MIN_TEXT or any(len(v) != width for v in items[1:-1]) or not 0 < len(items[-1]) <= width:
        return None
    return "".join(items).encode("utf-8", "surrogatepass")


def strings(doc: Any, prefix: str, shapes: dict[str, list[str]] | None = None) -> Iterator[tuple[str, bytes]]:
    """Depth-first (document order) string values of a parsed document, with their paths; an array of
    byte values (or wider integers) as its bytes; an array of strings of one length joined; and the
    strings found at one path in every element of an array (``$[*].c``: one record a chunk) or every
    document of a stream (``shapes``, filled here, joined by the caller), and an object's keys, joined
    when they are chunks of one length."""
    own = shapes is None
    shapes = {} if shapes is None else shapes
    stack: list[tuple[str, str, Any]] = [("$", "$", doc)]
    while stack:
        path, shape, node = stack.pop()
        if isinstance(node, str):
            if len(node) >= MIN_TEXT:
                yield f"{prefix}{path}", node.encode("utf-8", "surrogatepass")
                if _CONTROL.search(node) and not _WIDE.search(node):
                    yield f"{prefix}{path}(latin-1)", node.encode("latin-1")
            if shape != path or not own:        # in an array, or in a stream's documents
                shapes.setdefault(shape, []).append(node)
        elif isinstance(node, dict):
            keys = _chunks(list(node))
            if keys is not None:
                yield f"{prefix}{path}{{keys}}", keys
            if shape != path or not own:
                shapes.setdefault(f"{shape}{{keys}}", []).extend(node)
            stack.extend((_step(path, k), _step(shape, k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            readings = _byte_array(node)
            for reading, raw in readings:
                yield f"{prefix}{path}({reading})", raw
            if not readings:
                joined = _chunks(node)
                if joined is not None:
                    yield f"{prefix}{path}[*]", joined
                stack.extend((_step(path, i), f"{shape}[*]", v) for i, v in reversed(list(enumerate(node))))
    if own:
        yield from joined_shapes(shapes, prefix)


# Strings at one path of records, lines or keys joined as chunks: this many, this long at least (a
# timestamp's or a name's width is shorter; a chunk of base64 or hex a record is 32 to 1,000 characters).
MIN_CHUNKS, MIN_CHUNK = 3, 32


def joined_shapes(shapes: dict[str, list[str]], prefix: str) -> Iterator[tuple[str, bytes]]:
    """The strings of each path shape joined, where they are chunks of one text (``_chunks``) and more
    than an array of strings itself (whose join is made where it is)."""
    for shape, values in shapes.items():
        if shape.endswith("[*]") or len(values) < MIN_CHUNKS or len(values[0]) < MIN_CHUNK:
            continue
        joined = _chunks(values)
        if joined is not None:
            yield f"{prefix}{shape}", joined


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
        places = _long_strings(data)
        places += [m.start() for m in _BYTE_ARRAY.finditer(data)]
        if not places:
            return  # nothing long enough to decode, whatever the structure
        doc = _load(data)
        if doc is not None:
            yield from strings(doc, "json:")
            return
        yield from _ndjson(data, sorted(places))


def _long_strings(data: bytes) -> list[int]:
    """Where a string of MIN_TEXT characters or more may start, in a few numpy passes: a quote not
    escaped, after a bracket, comma or colon (blanks between), whose next quote is MIN_TEXT or more
    bytes on.  Every such string has one (an escaped quote inside only makes the gap longer); a
    place that is not one only costs a parse."""
    raw = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(raw == _QUOTE)
    if len(quotes):
        quotes = quotes[(quotes == 0) | (raw[quotes - 1] != _BACKSLASH)]
    if not len(quotes):
        return []
    gaps = np.diff(np.append(quotes, len(raw))) - 1
    opening = quotes[gaps >= MIN_TEXT]
    if not len(opening):
        return []
    # the byte before a quote, blanks (and control bytes) skipped: mostly the very byte before it
    prev = raw[np.maximum(opening - 1, 0)]
    ok = (opening > 0) & _OPENER[prev]
    blank = np.flatnonzero((opening > 0) & (prev <= 32))
    if len(blank):
        solid = np.flatnonzero(raw > 32)
        before = np.searchsorted(solid, opening[blank]) - 1
        found = before >= 0
        ok[blank[found]] = _OPENER[raw[solid[before[found]]]]
    return (opening[ok] + 1).tolist()  # inside the string: its line


def _documents_on_every_line(lines: bytes) -> bool:
    """Every line (each ends with a newline) is blank or starts with a bracket and ends with one.
    Counted first (C speed: each newline between "}" or "]" and "{" or "["), read line by line
    only when the counts do not settle it (blank lines, spaces or CRs around the brackets)."""
    breaks = lines.count(b"\n")
    closed = sum(lines.count(e) for e in (b"}\n", b"]\n", b"}\r\n", b"]\r\n"))
    opened = (lines[:1] in (b"{", b"[")) + lines.count(b"\n{") + lines.count(b"\n[")
    if closed == breaks and opened == breaks:
        return True
    return _BAD_LINE.search(lines) is None


def _ndjson(data: bytes, places: list[int]) -> Iterator[tuple[str, bytes]]:
    """NDJSON: one document per line; only the lines holding ``places`` are parsed.  Every line
    must look like a document (a cut last line aside: a truncated stream keeps the ones before)."""
    body = data.rstrip(b"\r\n \t")
    last_start = body.rfind(b"\n") + 1
    if not last_start or not _documents_on_every_line(body[:last_start]):
        return
    lines = data.split(b"\n")
    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    last = body.count(b"\n")  # the last line with content (it may be cut)
    docs = []
    for i in np.unique(np.searchsorted(breaks, places)).tolist():
        doc = _load(lines[i])
        if doc is None:
            if i >= last:
                break
            return
        docs.append((i + 1, doc))
    shapes: dict[str, list[str]] = {}
    for number, doc in docs:
        yield from strings(doc, f"ndjson:{number}:", shapes)
    yield from joined_shapes(shapes, "ndjson:*:")
