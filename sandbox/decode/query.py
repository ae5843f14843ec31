"""The query string of a request line (``GET /q?id=3&d=... HTTP/1.1``) or of HTTP/2's ``:path``:
each parameter's value a view of its own (label "url:<key>"), percent-decoded.

An instrument can send its data a URL at a time, each request's query carrying a piece (a beacon, a
"telemetry" GET).  The request head is one view, text with the value inside it: decoders that read
only a whole view (base32, hex) never saw the value alone, and 40 kB of reads base32-encoded 189
characters a request to the allowed LIMS replayed clean.  (A form body is ``url``'s.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.url import unquote

MIN_VALUE = 16            # bytes: shorter values are not evidence (and are not worth a view)
MAX_PARAMS = 256          # parameters taken from one query
MAX_HEAD = 16384          # bytes of an HTTP/2 head its :path is looked for in
_REQUEST_LINE = re.compile(rb"[A-Z][A-Z-]{2,15} (\S*\?\S*) HTTP/\d")
_PATH_HEADER = re.compile(rb"(?:^|\r\n):path: (\S*\?\S*)\r\n")


def query_of(head: bytes) -> bytes:
    """The query string of a request head's target (after "?", before "#"), b"" when it has none."""
    m = _REQUEST_LINE.match(head)
    if m is None and head[:1] == b":":          # HTTP/2's head: its pseudo-headers first
        m = _PATH_HEADER.search(head, 0, MAX_HEAD)
    if m is None:
        return b""
    return m.group(1).split(b"?", 1)[1].split(b"#", 1)[0]


class QueryDecoder(Decoder):
    name = "query"
    text = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return bool(query_of(data))

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        for n, pair in enumerate(query_of(data).split(b"&")):
            if n >= MAX_PARAMS:
                return
            key, _, value = pair.partition(b"=")
            value = unquote(value, plus=True)
            if len(value) >= MIN_VALUE:
                yield f"url:{unquote(key, plus=True).decode('utf-8', 'replace')}", value
