"""Protocol Buffers without a schema: length-delimited fields that hold strings, bytes or
nested messages (label "protobuf:1.3" = field 3 inside field 1).

A buffer counts as a message only if it parses to the last byte with valid wire types; text
never does in practice, random bytes fail within a few fields.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.limits import MIN_TEXT

MAX_FIELD = (1 << 29) - 1  # field numbers are 29 bits
MAX_FIELDS = 100_000  # per message walk: a longer list of fields is an attack, not telemetry
MAX_NESTING = 16  # submessage depth searched inside one protobuf
# Control bytes that never occur in text: a message of only printable bytes is text.
_TEXTLIKE = bytes(range(0x20, 0x7F)) + b"\t\n\r"


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """A base-128 varint (protobuf's, RAR 5's): (value, next position); (-1, pos) when it runs off
    the end or is over 10 bytes."""
    value = shift = 0
    end = min(len(data), pos + 10)
    while pos < end:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    return -1, pos


def fields(data: bytes) -> list[tuple[int, int, int]] | None:
    """Length-delimited fields (number, start, end), or None when ``data`` is not a message."""
    pos, n, out, count = 0, len(data), [], 0
    while pos < n:
        count += 1
        if count > MAX_FIELDS:
            return None
        key, pos = varint(data, pos)
        if key < 0:
            return None
        number, wire = key >> 3, key & 7
        if not 1 <= number <= MAX_FIELD:
            return None
        if wire == 0:
            value, pos = varint(data, pos)
            if value < 0:
                return None
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = varint(data, pos)
            if size < 0 or pos + size > n:
                return None
            out.append((number, pos, pos + size))
            pos += size
        else:  # 3/4 (groups, deprecated since proto2) and 6/7 (invalid)
            return None
    return out if pos == n else None


def _is_text(data: bytes) -> bool:
    return not data.translate(None, _TEXTLIKE)


def _walk(data: bytes, path: str, depth: int) -> Iterator[tuple[str, bytes]]:
    found = fields(data)
    if found is None:
        return
    for number, start, end in found:
        value = data[start:end]
        here = f"{path}.{number}" if path else str(number)
        if depth < MAX_NESTING and len(value) >= 2 and not _is_text(value) and fields(value):
            yield from _walk(value, here, depth + 1)
        elif len(value) >= MIN_TEXT:
            yield f"protobuf:{here}", value


class ProtobufDecoder(Decoder):
    name = "protobuf"
    structural = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        if len(data) < 2 or _is_text(data[:4096]) and _is_text(data):
            return False
        found = fields(data)
        return bool(found) and any(end - start >= MIN_TEXT for _, start, end in found)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        yield from _walk(data, "", 0)
