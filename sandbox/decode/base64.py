"""base64, standard and url-safe, padded or not, with or without line breaks (MIME, PEM).

A view that is base64 as a whole gives label "base64"; base64 runs inside larger text (a log
line, an XML element, a header) give "base64@<offset>".
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

# Embedded runs shorter than this are words and identifiers; 24 chars = 18 bytes, just above the
# 16-byte floor the correlator can use.
MIN_RUN = text.ENCODED_RUN   # 24: 18 bytes
WHOLE_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=\r\n\t "
_WHITESPACE = b"\r\n\t "
_PIECE = re.compile(rb"[A-Za-z0-9+/_-]+=*")
_URLSAFE = bytes.maketrans(b"-_", b"+/")
MIXED = text.LOWER | text.UPPER | text.DIGIT  # real base64 of >= 18 bytes mixes all three


def _clean(piece: bytes) -> bytes | None:
    """Canonical padded standard base64 for one block, or None when it cannot be base64."""
    body = piece.rstrip(b"=")
    has_url = b"-" in body or b"_" in body
    if has_url and (b"+" in body or b"/" in body):
        return None
    if has_url:
        body = body.translate(_URLSAFE)
    if len(body) % 4 == 1:
        body = body[:-1]  # a stray last char carries < 1 byte
    return body + b"=" * (-len(body) % 4)


def _segments(piece: bytes) -> list[bytes]:
    """A piece that mixes url-safe symbols with "/" is url-safe base64 between a path's slashes
    ("/t/<base64url>/p.gif"): its segments are the candidates."""
    if b"/" in piece and (b"-" in piece or b"_" in piece):
        return piece.split(b"/")
    return [piece]


def _decode(block: bytes) -> bytes | None:
    clean = _clean(block)
    if clean is None:
        return None
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:
        return None


_FULL_LINE = re.compile(rb"[A-Za-z0-9+/]{%d,}" % 40)  # MIME wraps at 76, PEM at 64
_LAST_LINE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def _blocks(run: bytes) -> list[bytes]:
    """Split a run at line breaks: consecutive full-width lines of equal length (MIME, PEM) and
    a shorter last line form one block; any other line is a candidate of its own, so a header
    word on the next line ("...boundary=---123\r\nUser-Agent") is never glued on."""
    blocks: list[bytes] = []
    current: list[bytes] = []
    for line in run.split():
        if current and len(line) == len(current[0]) and _FULL_LINE.fullmatch(line):
            current.append(line)
            continue
        if current and len(line) < len(current[0]) and _LAST_LINE.fullmatch(line):
            current.append(line)
            blocks.append(b"".join(current))
            current = []
            continue
        if current:
            blocks.append(b"".join(current))
            current = []
        if _FULL_LINE.fullmatch(line):
            current = [line]
        else:
            blocks.append(line)
    if current:
        blocks.append(b"".join(current))
    return blocks


_LAST_INDENTED = re.compile(rb"[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*\r?(?:\n|\Z)")


def _indented(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(where, where it ends, the block joined) of each set of two or more base64 lines of equal width, each indented
    (YAML's !!binary, pretty-printed XML: the indentation cuts the run at every line, so each line was
    decoded alone, a gzip 57 bytes at a time).  Lines are runs of any letters (a line of a compressed
    stream's zeros is all "A"), looked for only in a view with indented lines."""
    if b"\n " not in data and b"\n\t" not in data:
        return
    group: list[tuple[int, int]] = []
    for start, end, _ in [*text.runs(data, text.B64, MIN_RUN), (len(data) + 1, len(data) + 1, 0)]:
        if group and group[-1][1] < start <= len(data) and data[group[-1][1] - 1: group[-1][1]] == b"\n" \
                and not data[group[-1][1]: start].strip(b" \t"):
            group.append((start, end))
            continue
        if len(group) >= 2:
            lines = [line for a, b in group for line in data[a:b].split()]
            end = group[-1][1]
            last = _LAST_INDENTED.match(data, end)     # a last line too short to be a run
            if last and len(last[1]) < len(lines[-1]):
                lines.append(last[1])
                end = last.end()
            if _lines_ok(b"\n".join(lines)) and _mixed(block := b"".join(lines)):
                yield group[0][0], end, block
        group = [(start, end)]


def _lines_ok(run: bytes) -> bool:
    """A block broken over lines has equal line lengths (MIME 76, PEM 64) with a shorter last line."""
    lines = run.split()
    if len(lines) < 2:
        return True
    width = len(lines[0])
    return all(len(line) == width for line in lines[1:-1]) and len(lines[-1]) <= width


_LOWER, _UPPER, _DIGIT = re.compile(rb"[a-z]"), re.compile(rb"[A-Z]"), re.compile(rb"[0-9]")
_DIGITS = b"0123456789"
MIXED_HEAD = 1024  # bytes searched first: real base64 shows all three classes within a few bytes


def _mixed(block: bytes) -> bool:
    """Lower and upper case letters and digits: each looked for in the head, and only if missing
    there in the whole block by one C pass (17 MB of one letter: a copy, not a regex scan)."""
    head = block[:MIXED_HEAD]
    return bool((_LOWER.search(head) or block.upper() != block)
                and (_UPPER.search(head) or block.lower() != block)
                and (_DIGIT.search(head) or len(block.translate(None, _DIGITS)) != len(block)))


def _whole(data: bytes) -> bytes | None:
    if data[:256].translate(None, WHOLE_ALPHABET):
        return None
    stripped = data.strip()
    if len(stripped) < MIN_RUN // 2:
        return None
    if stripped.translate(None, WHOLE_ALPHABET) or not _lines_ok(stripped):
        return None
    block = stripped.translate(None, _WHITESPACE)
    if b"=" in block.rstrip(b"="):
        return None
    if not (block.endswith(b"=") or _mixed(block)):
        return None
    return block


# Pieces of one length this long or longer, three at least, are read joined as chunks of one text.
JOIN_MIN, JOIN_COUNT = 40, 3
MAX_JOINS = 8   # lengths joined in one view, the most repeated first


def _joined(pieces: list[tuple[int, bytes]]) -> Iterator[tuple[str, bytes]]:
    """Pieces of one length (a chunk a log line, a column of a CSV, an element of an XML list) are one
    text cut up: read joined in order, with the shorter piece right after the last of them (its end).
    Each chunk of 64 characters of a gzip of reads was decoded alone, 48 bytes at a time."""
    by_length: dict[int, list[int]] = {}
    for i, (_, piece) in enumerate(pieces):
        if len(piece) >= JOIN_MIN:
            by_length.setdefault(len(piece), []).append(i)
    groups = sorted((idx for idx in by_length.values() if len(idx) >= JOIN_COUNT), key=len, reverse=True)
    for idx in groups[:MAX_JOINS]:
        chosen = [pieces[i][1] for i in idx]
        after = idx[-1] + 1
        if after < len(pieces) and len(pieces[after][1]) < len(chosen[0]):
            chosen.append(pieces[after][1])
        out = _decode(b"".join(piece.rstrip(b"=") for piece in chosen[:-1]) + chosen[-1])
        if out:
            yield f"base64 joined@{pieces[idx[0]][0]}", out


class Base64Decoder(Decoder):
    name = "base64"
    text = True
    embedded = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        """Text, or binary bytes with a run of base64 inside (a MessagePack string, a framed record)."""
        return text.looks_textual(data) or text.has_encoded_run(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        block = _whole(data)
        if block is not None:
            out = _decode(block)
            if out:
                yield "base64", out
            return
        read: list[tuple[int, int]] = []          # indented blocks read whole: their lines are not again
        for at, end, block in _indented(data):
            out = _decode(block)
            if out:
                read.append((at, end))
                yield f"base64@{at}", out
        i = 0
        pieces: list[tuple[int, bytes]] = []
        # in binary bytes the byte before a run is a letter a quarter of the time: the run starts up to
        # three letters early, and is read from each of those starts too
        shifts = (0,) if text.looks_textual(data) else (0, 1, 2, 3)
        found = text.runs(data, text.B64, MIN_RUN, need=MIXED)
        if len(shifts) > 1:
            yield from _records(data, found)     # first: a run a record, each decoded alone, can reach the members' limit
        for start, end, _ in found:
            while i < len(read) and read[i][1] <= start:     # both in order: one pass
                i += 1
            if i < len(read) and read[i][0] <= start:
                continue
            run = data[start:end]
            for block in _blocks(run):
                for group in (m.group() for m in _PIECE.finditer(block)):
                    for shift in shifts:      # (a "-" or "_" before it would make it url-safe, split at "/")
                        for piece in _segments(group[shift:]):
                            if len(piece) < MIN_RUN or not _mixed(piece):
                                continue
                            at = start + max(0, run.find(piece[:8]))
                            if not shift:
                                pieces.append((at, piece))
                            out = _decode(piece)
                            if out:
                                yield f"base64@{at}", out
        yield from _joined(pieces)


def _records(data: bytes, found: list[tuple[int, int, int]]) -> Iterator[tuple[str, bytes]]:
    """Lines of records of one size in binary bytes (``text.strided_lines``), read joined: base64 of a
    gzip of reads 64 characters a record after 6 random bytes was decoded a run at a time, each at a
    wrong alignment where a header's bytes were letters."""
    lines = text.strided_lines([(start, end) for start, end, _ in found])
    if lines:
        chosen = [data[a:b] for a, b in lines]
        out = _decode(b"".join(line.rstrip(b"=") for line in chosen[:-1]) + chosen[-1])
        if out:
            yield f"base64 records@{lines[0][0]}", out
