"""The target of a request line (``GET /t/<data>/x?id=3&d=... HTTP/1.1``) or of HTTP/2's ``:path``:
each query parameter's value a view of its own (label "url:<key>"), and the path's long segments
joined (label "url path"), percent-decoded.

An instrument can send its data a URL at a time, each request carrying a piece (a beacon, a
"telemetry" GET, a tracking pixel's path).  The request head is one view, text with the piece inside
it: decoders that read only a whole view (base32, hex) never saw the piece alone, and 40 kB of reads
base32-encoded 189 characters a request to the allowed LIMS replayed clean; so did reads base64url-
encoded in a path segment (url-safe base64 beside the path's "/" is no base64 run) or base32 split
over segments of 40.  (A form body is ``url``'s.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.url import form_pair, unquote

MIN_VALUE = 16            # bytes: shorter values are not evidence (and are not worth a view)
MAX_PARAMS = 256          # parameters taken from one query
MAX_HEAD = 16384          # bytes of an HTTP/2 head its :path is looked for in
# Path segments shorter than this are words of an API ("v2", "runs", "upload"); a run of longer
# ones is joined when one of them at least is MIN_SEGMENT_RUN long, as encoded data is.
MIN_SEGMENT = 8
MIN_SEGMENT_RUN = 16
_REQUEST_LINE = re.compile(rb"[A-Z][A-Z-]{2,15} (\S+) HTTP/\d")
_PATH_HEADER = re.compile(rb"(?:^|\r\n):path: (\S+)\r\n")
_ORIGIN = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")   # an absolute target's scheme and host


def target_of(head: bytes) -> bytes:
    """The target of a request head (b"" when ``head`` is none): its path, query and fragment."""
    m = _REQUEST_LINE.match(head)
    if m is None and head[:1] == b":":          # HTTP/2's head: its pseudo-headers first
        m = _PATH_HEADER.search(head, 0, MAX_HEAD)
    return b"" if m is None else m.group(1)


def query_of(head: bytes) -> bytes:
    """The query string of a request head's target (after "?", before "#"), b"" when it has none."""
    target = target_of(head)
    return target.split(b"?", 1)[1].split(b"#", 1)[0] if b"?" in target else b""


def path_runs(head: bytes) -> list[bytes]:
    """The runs of long segments of a request head's path, each joined (percent-decoded)."""
    path = _ORIGIN.sub(b"", target_of(head).split(b"?", 1)[0].split(b"#", 1)[0], count=1)
    runs: list[list[bytes]] = [[]]
    for segment in path.split(b"/"):
        segment = unquote(segment, plus=False)
        if len(segment) >= MIN_SEGMENT:
            runs[-1].append(segment)
        elif runs[-1]:
            runs.append([])
    return [b"".join(run) for run in runs if any(len(s) >= MIN_SEGMENT_RUN for s in run)]


class TargetDecoder(Decoder):
    name = "target"
    text = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return bool(target_of(data))

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        for run in path_runs(data):
            yield "url path", run
        for n, pair in enumerate(query_of(data).split(b"&")):
            if n >= MAX_PARAMS:
                return
            label, value, kept = form_pair(pair)
            if len(value) >= MIN_VALUE:
                yield label, value
                if kept is not None:
                    yield f"{label}(+)", kept
