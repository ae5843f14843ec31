"""MIME multipart, the one implementation: HTTP uploads (streamed by the HTTP parsers), e-mail
messages (SMTP) and multipart bytes met anywhere else (the decoders) are split here, so a part
has the same chain label whichever way it came: "multipart:file=<filename>", else
"multipart:name=<form field>", else "multipart:part=<n>" ("part=1.2" inside a nested one); a
part cut by the end of the data adds "(truncated)".  Parts whose own type is multipart (an e-mail's multipart/alternative) are
split in turn.  Content-Transfer-Encoding is not undone here: a base64 or quoted-printable part
reaches the decoders as it is and gains their label ("multipart:file=x.csv" > "base64").
"""

from __future__ import annotations

import email.header
import re
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from sandbox.decode.base import Budget, Decoder

# Part headers are a handful of short lines; browsers and curl send < 1 KiB.  Beyond this the
# part is not MIME as we understand it and its bytes are passed on as the part's body.
MAX_PART_HEAD = 16 * 1024
# A part larger than this is emitted in consecutive pieces (the HTTP body piece size).
MAX_PART_PIECE = 64 * 1024 * 1024
# Parts split per body: past this (a flood of empty parts) the rest goes on as one "rest" part,
# the same bound as the members one decoding step may yield.
MAX_PARTS = 1024
# Multipart inside multipart: mail clients nest 3 or 4 deep (mixed > related > alternative).
MAX_NESTING = 8
# Where a MIME message's own headers must end for the decoders to read it as one.
MESSAGE_HEAD = 64 * 1024
MAX_NAME = 200  # chain labels are for people; the full name is in the part's meta
# Part names (file name, form field) this long are correlated as a view of their own: the
# instrument chooses them too, and 32 bytes is the correlator's smallest window.
MIN_NAMES_VIEW = 32

# emit(data, chain_suffix, meta, body_offset_of_data)
Emit = Callable[[bytes, tuple[str, ...], dict, int], None]

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_PARAM = re.compile(rb'(?i);\s*([a-z0-9*_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')
# RFC 2046 5.1.1: a boundary is 1-70 chars from a restricted set.
_FIRST_DELIMITER = re.compile(rb"\A(?:\r?\n)*--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*\r?\n")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type:[ \t]*(multipart/[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")


def _words(value: str) -> str:
    """RFC 2047 encoded words ("=?UTF-8?B?...?=") decoded; anything else as it is."""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


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


def part_meta(head: bytes) -> dict[str, Any]:
    """What a part's headers say: form field, file name, content type, transfer encoding."""
    meta: dict[str, Any] = {}
    for line in re.split(rb"\r?\n(?![ \t])", head):  # unfold continued header lines
        name, _, value = line.strip().partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-disposition":
            params = header_params(value)
            if "name" in params:
                meta["field"] = _words(params["name"])
            star = params.get("filename*")
            if star is not None:
                charset, _, encoded = star.partition("''")
                meta["filename"] = urllib.parse.unquote(encoded or charset, errors="replace")
            elif "filename" in params:
                meta["filename"] = _words(params["filename"])
        elif name == b"content-type":
            meta["content_type"] = value.decode("latin-1")
            type_name = header_params(value).get("name")
            if type_name is not None:  # mail clients name attachments here too
                meta["type_name"] = _words(type_name)
        elif name == b"content-transfer-encoding":
            meta["transfer_encoding"] = value.decode("latin-1").lower()
    type_name = meta.pop("type_name", None)
    if type_name is not None and "filename" not in meta:
        meta["filename"] = type_name
    return meta


def part_label(meta: dict[str, Any], number: str) -> str:
    """file=<filename>, else name=<form field>, else part=<number> ("2.1": first inside the second)."""
    if "filename" in meta:
        return f"multipart:file={meta['filename'][:MAX_NAME]}"
    if "field" in meta:
        return f"multipart:name={meta['field'][:MAX_NAME]}"
    return f"multipart:part={number}"


class MultipartSplitter:
    """Splits a multipart body into parts, fed incrementally; each part is emitted with its label.

    States: preamble (look for ``--boundary``), head (part headers up to a blank line), body
    (look for ``LF--boundary``; a CR before it belongs to the delimiter), epilogue.  The preamble and
    the epilogue are emitted too, when they hold more than line breaks.  Searches
    resume where the last one stopped, so the time is linear in the body however it is chunked.
    A part whose type is multipart is split by a nested splitter as it arrives.
    """

    def __init__(self, boundary: bytes, emit: Emit, depth: int = 0, number: str = "") -> None:
        self._dash = b"--" + boundary
        self._delim = b"\n--" + boundary
        self._emit = emit
        self._depth = depth
        self._number = number  # "2." for the parts inside this body's second part
        self._buf = bytearray()
        self._state = "preamble"
        self._scan = 0
        self._pos = 0  # body offset of _buf[0]
        self._part: list[bytes] = []
        self._part_size = 0
        self._part_start = 0
        self._part_pieces = 0
        self._suffix: tuple[str, ...] = ("multipart:preamble",)
        self._meta: dict = {}
        self._nested: MultipartSplitter | None = None
        self.parts = 0

    def feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            if self._state == "preamble":
                i = self._buf.find(self._dash, self._scan)
                if i < 0:
                    passed = max(0, len(self._buf) - len(self._dash))   # a delimiter may be arriving
                    self._add(bytes(self._buf[:passed]))
                    self._drop(passed)
                    return
                if len(self._buf) < i + len(self._dash) + 2:
                    self._scan = i
                    return
                self._add(bytes(self._buf[:i]))
                self._end_aside()
                self._after_boundary(i + len(self._dash))
            elif self._state == "head":
                if self._buf[:1] == b"\n" or self._buf[:2] == b"\r\n":  # a part with no headers
                    self._start_part(b"", 1 if self._buf[:1] == b"\n" else 2)
                    continue
                if len(self._buf) < 2:
                    return
                m = _BLANK_LINE.search(self._buf, self._scan)
                if m is None and len(self._buf) <= MAX_PART_HEAD:
                    self._scan = max(0, len(self._buf) - 3)
                    return
                if m is None:  # no end of headers in MAX_PART_HEAD bytes: all of it is body
                    self._start_part(b"", 0)
                else:
                    self._start_part(bytes(self._buf[: m.start()]), m.end())
            elif self._state == "body":
                i = self._buf.find(self._delim, self._scan)
                if i < 0:
                    keep = len(self._delim) + 1  # a delimiter (and its CR) may be arriving
                    if len(self._buf) > keep:
                        self._add(bytes(self._buf[: len(self._buf) - keep]))
                        self._drop(len(self._buf) - keep)
                    self._scan = 0
                    return
                if len(self._buf) < i + len(self._delim) + 2:
                    self._scan = i
                    return
                end = i - 1 if i and self._buf[i - 1] == 0x0D else i
                self._add(bytes(self._buf[:end]))
                self._finish_part()
                self._after_boundary(i + len(self._delim))
            elif self._state == "rest":  # past MAX_PARTS: the rest is one part
                self._add(bytes(self._buf))
                self._drop(len(self._buf))
                return
            else:  # epilogue
                self._add(bytes(self._buf))
                self._drop(len(self._buf))
                return

    def end(self) -> None:
        """Body over: a part cut short (a truncated upload) is still emitted, marked so."""
        if self._state in ("preamble", "epilogue"):
            self._add(bytes(self._buf))
            self._drop(len(self._buf))
            self._end_aside()
            self._state = "epilogue"
            return
        if self._state == "head" and self._buf:
            self._start_part(b"", 0)
        if self._state in ("body", "head", "rest"):
            self._add(bytes(self._buf))
            self._drop(len(self._buf))
            self._finish_part(cut=self._state != "rest")
        self._state = "epilogue"

    def _after_boundary(self, j: int) -> None:
        tail = bytes(self._buf[j : j + 2])
        if tail == b"--":
            self._drop(j + 2)
            self._state = "epilogue"
            self._suffix, self._meta, self._part_pieces = ("multipart:epilogue",), {}, 0
            return
        line_end = self._buf.find(b"\n", j, j + 256)  # transport padding after the boundary
        self._drop(line_end + 1 if line_end >= 0 else j)
        self._state = "head" if self.parts < MAX_PARTS else "rest"
        if self._state == "rest":
            self._suffix, self._meta = ("multipart:rest",), {"part": self.parts}
            self._part_start, self._part_pieces = self._pos, 0

    def _end_aside(self) -> None:
        """The preamble or the epilogue is over: emitted when it holds more than line breaks (it carries
        nothing by definition, so whatever it carries was put there to be passed over)."""
        if any(piece.strip() for piece in self._part):
            self._flush()
        self._part.clear()
        self._part_size = 0

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._pos += n
        self._scan = 0

    def _start_part(self, head: bytes, body_at: int) -> None:
        """A part begins: its headers are ``head``, its body starts ``body_at`` bytes into the buffer."""
        meta = part_meta(head)
        meta["part"] = self.parts
        self._meta = meta
        self._suffix = (part_label(meta, f"{self._number}{self.parts + 1}"),)
        names = "\n".join(meta[k] for k in ("filename", "field") if meta.get(k))
        if len(names) >= MIN_NAMES_VIEW:
            self._emit(names.encode("utf-8", "replace"), (*self._suffix, "names"), {**meta, "names": True}, self._pos)
        self._state = "body"
        self._drop(body_at)
        self._part_start = self._pos
        self._part_pieces = 0
        inner = boundary_of(meta.get("content_type", "").encode("latin-1", "replace"))
        self._nested = None
        if inner and self._depth < MAX_NESTING:
            start = self._part_start

            def nested_emit(data: bytes, suffix: tuple[str, ...], m: dict, offset: int) -> None:
                self._emit(data, suffix, m, start + offset)

            self._nested = MultipartSplitter(inner, nested_emit, self._depth + 1, f"{self._number}{self.parts + 1}.")

    def _add(self, data: bytes) -> None:
        if not data:
            return
        if self._nested is not None:
            self._nested.feed(data)
            return
        if not self._part:
            self._part_start = self._pos
        self._part.append(data)
        self._part_size += len(data)
        if self._part_size >= MAX_PART_PIECE:
            self._flush()

    def _flush(self, cut: bool = False) -> None:
        meta = dict(self._meta)
        if self._part_pieces:
            meta["piece"] = self._part_pieces
        # a body cut inside a part's headers has no label yet: it is named by its number
        suffix = self._suffix or (part_label(self._meta, f"{self._number}{self.parts + 1}"),)
        if cut:
            meta["truncated"] = True
            suffix = (suffix[0] + "(truncated)",)
        self._emit(b"".join(self._part), suffix, meta, self._part_start)
        self._part_pieces += 1
        self._part.clear()
        self._part_size = 0

    def _finish_part(self, cut: bool = False) -> None:
        if self._nested is not None:
            self._nested.end()
            self._nested = None
        elif self._part or not self._part_pieces:
            self._flush(cut)
        self.parts += 1


def _boundary(data: bytes) -> tuple[bytes, int] | None:
    """A multipart body's boundary and where its first delimiter line starts: from that line at
    the start, or from the headers of a MIME message (e-mail) that starts ``data``."""
    m = _FIRST_DELIMITER.match(data)
    if m:
        return m.group(1), 0
    head = _BLANK_LINE.search(data, 0, MESSAGE_HEAD)
    if head:
        ct = _CONTENT_TYPE.search(data, 0, head.start())
        if ct:
            boundary = boundary_of(re.sub(rb"\r?\n[ \t]", b" ", ct.group(1)))
            if boundary and data.find(b"--" + boundary, head.end()) >= 0:
                return boundary, head.end()
    return None


class MultipartDecoder(Decoder):
    """Multipart bytes anywhere: a form upload without its HTTP headers, or a MIME message."""

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
        parts: list[tuple[str, bytes]] = []
        splitter = MultipartSplitter(boundary, lambda d, s, m, o: parts.append((" > ".join(s), d)))
        splitter.feed(data[start:] if start else data)
        splitter.end()
        yield from ((label, body) for label, body in parts if body)
