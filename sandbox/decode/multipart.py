"""MIME multipart bodies given as raw bytes: a form upload without its HTTP headers, or a MIME
message (e-mail) with its headers; each part with label "multipart:<name or filename>"."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder

# RFC 2046 5.1.1: a boundary is 1-70 chars from a restricted set.
_FIRST_DELIMITER = re.compile(rb"\A(?:\r?\n)*--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*\r?\n")
_HEADER_BOUNDARY = re.compile(rb'(?im)^content-type:[ \t]*multipart/[^\r\n]*?boundary="?([^";\r\n]{1,70})"?')
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_PARAM = re.compile(rb'(?i)\b(name|filename)\*?="?([^";\r\n]*)"?')
# MIME part headers are a few short lines; a longer "head" means this is not a part.
MAX_PART_HEAD = 16 * 1024
MESSAGE_HEAD = 64 * 1024  # where a MIME message's own headers must end


def _boundary(data: bytes) -> tuple[bytes, int] | None:
    """The boundary and where the first delimiter starts."""
    m = _FIRST_DELIMITER.match(data)
    if m:
        return m.group(1), m.start(1) - 2
    head = _HEAD_END.search(data, 0, MESSAGE_HEAD)
    if head:
        m = _HEADER_BOUNDARY.search(data, 0, head.start())
        if m:
            boundary = m.group(1).strip()
            at = data.find(b"--" + boundary, head.end())
            if at >= 0:
                return boundary, at
    return None


def _name(head: bytes, index: int) -> str:
    params = {k.lower(): v for k, v in _PARAM.findall(head)}
    raw = params.get(b"name") or params.get(b"filename") or str(index).encode()
    return raw.decode("utf-8", "replace")


class MultipartDecoder(Decoder):
    name = "multipart"
    text = True
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = data[:MESSAGE_HEAD]
        return (head.lstrip(b"\r\n").startswith(b"--") or b"multipart/" in head.lower()) and _boundary(
            data
        ) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = _boundary(data)
        if found is None:
            return
        boundary, start = found
        delimiter = re.compile(rb"\r?\n--" + re.escape(boundary))
        body_start = data.find(b"\n", start) + 1
        index = 0
        while body_start > 0:
            nxt = delimiter.search(data, body_start)
            part = data[body_start : nxt.start() if nxt else len(data)]
            head = _HEAD_END.search(part, 0, MAX_PART_HEAD)
            index += 1
            if head is not None:
                body = part[head.end() :]
                label = f"multipart:{_name(part[: head.start()], index)}"
                if body:
                    yield label if nxt else f"{label}(truncated)", body
            elif part.startswith((b"\r\n", b"\n")):  # a part with no headers at all
                yield f"multipart:{index}" if nxt else f"multipart:{index}(truncated)", part.lstrip(b"\r\n")
            if nxt is None or data[nxt.end() : nxt.end() + 2] == b"--":
                return
            body_start = data.find(b"\n", nxt.end()) + 1
