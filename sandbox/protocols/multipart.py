"""multipart/form-data as HTTP body framing: one part at a time, fed incrementally.

The HTTP parsers split an upload body into its parts here so that each uploaded file
becomes its own Payload carrying its filename ("multipart:file=reads.fastq.gz").  The
decoders (sandbox.decode) also read multipart when it shows up nested in other content;
this module only does the streaming split that the HTTP layer needs for large uploads.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Part headers are a handful of short lines; browsers and curl send < 1 KiB.  Beyond this
# the body is not multipart as we understand it and is passed on as one opaque part.
MAX_PART_HEAD = 16 * 1024
# A part larger than this is emitted in consecutive pieces (same cap as HTTP bodies).
MAX_PART_PIECE = 64 * 1024 * 1024

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_PARAM = re.compile(rb'(?i);\s*([a-z0-9*_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')

# emit(data, chain_suffix, meta, body_offset_of_data)
Emit = Callable[[bytes, tuple[str, ...], dict, int], None]


def header_params(value: bytes) -> dict[str, str]:
    """Parameters of a header value like ``form-data; name="f"; filename="a.txt"``."""
    out: dict[str, str] = {}
    for key, raw in _PARAM.findall(b";" + value.split(b";", 1)[1] if b";" in value else b""):
        if raw.startswith(b'"'):
            raw = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
        out[key.decode("ascii", "replace").lower()] = raw.decode("utf-8", "replace")
    return out


def boundary_of(content_type: bytes) -> bytes | None:
    """The boundary of a multipart/* Content-Type, or None when it is not multipart."""
    if not content_type.lower().lstrip().startswith(b"multipart/"):
        return None
    boundary = header_params(content_type).get("boundary")
    return boundary.encode("utf-8", "replace") if boundary else None


class MultipartSplitter:
    """Splits a multipart body into parts; each part is emitted with its name/filename.

    States: preamble (look for ``--boundary``), head (part headers up to a blank line),
    body (look for ``CRLF--boundary``), epilogue.  Searches resume where the last one
    stopped so the time is linear in the body size however it is chunked.
    """

    def __init__(self, boundary: bytes, emit: Emit) -> None:
        self._dash = b"--" + boundary
        self._delim = b"\r\n--" + boundary
        self._emit = emit
        self._buf = bytearray()
        self._state = "preamble"
        self._scan = 0
        self._pos = 0  # body offset of _buf[0]
        self._part: list[bytes] = []
        self._part_size = 0
        self._part_start = 0
        self._part_pieces = 0
        self._suffix: tuple[str, ...] = ()
        self._meta: dict = {}
        self.parts = 0

    def feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            if self._state == "preamble":
                i = self._buf.find(self._dash, self._scan)
                if i < 0:
                    self._drop(max(0, len(self._buf) - len(self._dash)))
                    return
                if len(self._buf) < i + len(self._dash) + 2:
                    self._scan = i
                    return
                self._after_boundary(i + len(self._dash))
            elif self._state == "head":
                m = _BLANK_LINE.search(self._buf, self._scan)
                if m is None:
                    if len(self._buf) > MAX_PART_HEAD:
                        self._start_part(b"")
                        continue
                    self._scan = max(0, len(self._buf) - 3)
                    return
                self._start_part(bytes(self._buf[: m.start()]))
                self._drop(m.end())
            elif self._state == "body":
                i = self._buf.find(self._delim, self._scan)
                if i < 0:
                    keep = len(self._delim) - 1
                    if len(self._buf) > keep:
                        self._add(bytes(self._buf[: len(self._buf) - keep]))
                        self._drop(len(self._buf) - keep)
                    self._scan = 0
                    return
                if len(self._buf) < i + len(self._delim) + 2:
                    self._scan = i
                    return
                self._add(bytes(self._buf[:i]))
                self._finish_part()
                self._after_boundary(i + len(self._delim))
            else:  # epilogue: discarded, it carries nothing by definition
                self._drop(len(self._buf))
                return

    def end(self) -> None:
        """Body over: a part cut short (truncated upload) is still emitted."""
        if self._state == "body":
            self._add(bytes(self._buf))
            self._drop(len(self._buf))
            self._finish_part()
        elif self._state == "head" and self._buf:
            self._start_part(b"")
            self._add(bytes(self._buf))
            self._drop(len(self._buf))
            self._finish_part()
        self._state = "epilogue"

    def _after_boundary(self, j: int) -> None:
        tail = bytes(self._buf[j : j + 2])
        self._drop(j + 2 if tail in (b"--", b"\r\n") else j)
        self._state = "epilogue" if tail == b"--" else "head"

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._pos += n
        self._scan = 0

    def _start_part(self, head: bytes) -> None:
        meta: dict = {}
        for line in head.split(b"\n"):
            name, _, value = line.strip().partition(b":")
            name = name.strip().lower()
            if name == b"content-disposition":
                params = header_params(value.strip())
                if "name" in params:
                    meta["field"] = params["name"]
                fname = params.get("filename*") or params.get("filename")
                if fname is not None:
                    if fname.lower().startswith("utf-8''"):
                        from urllib.parse import unquote

                        fname = unquote(fname[7:])
                    meta["filename"] = fname
            elif name == b"content-type":
                meta["content_type"] = value.strip().decode("latin-1")
        if "filename" in meta:
            self._suffix = (f"multipart:file={meta['filename'][:200]}",)
        else:
            self._suffix = (f"multipart:name={meta.get('field', '')[:200]}",)
        meta["part"] = self.parts
        self._meta = meta
        self._state = "body"
        self._part_start = self._pos + len(head)
        self._part_pieces = 0

    def _add(self, data: bytes) -> None:
        if not data:
            return
        if not self._part:
            self._part_start = self._pos
        self._part.append(data)
        self._part_size += len(data)
        if self._part_size >= MAX_PART_PIECE:
            self._flush()

    def _flush(self) -> None:
        meta = dict(self._meta)
        if self._part_pieces:
            meta["piece"] = self._part_pieces
        self._emit(b"".join(self._part), self._suffix, meta, self._part_start)
        self._part_pieces += 1
        self._part.clear()
        self._part_size = 0

    def _finish_part(self) -> None:
        if self._part or not self._part_pieces:
            self._flush()
        self.parts += 1
