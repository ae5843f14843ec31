"""yEnc (Usenet's binaries: each byte plus 42, four of them escaped): each ``=ybegin`` part (label "yenc").

yEnc writes a file's bytes almost as they are, each plus 42, a byte that would be NUL, LF, CR or ``=``
(some encoders also tab, space, ``.``) escaped as ``=`` and it plus 64, in lines between a ``=ybegin``
line (and a ``=ypart`` line) and a ``=yend`` line: a gzip of reads so written replayed clean (its bytes
looked like ciphertext, each one off by 42).  Each part is read: its lines joined, each escape undone
(in numpy), 42 taken from every byte (one ``translate``); a part the view cut (no ``=yend``)
is read to the view's end.  What is around the parts (a message's headers, bytes appended) is a view of
its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from sandbox.decode import magic
from sandbox.decode.base import Budget, Decoder

BEGIN = b"=ybegin "
_HEADER = re.compile(rb"=ybegin [^\r\n]*\r?\n(?:=ypart [^\r\n]*\r?\n)?")
_END = re.compile(rb"\r?\n=yend[ \r\n]")
_LESS_42 = bytes((b - 42) & 0xFF for b in range(256))
CHUNK = 1 << 20           # bytes of a part whose escapes are undone at once


def _unescaped(raw: np.ndarray) -> tuple[bytes, bool]:
    """A piece of a part with its escapes undone (each escaped byte less 64), and whether its last byte
    is an escape whose byte comes in the next piece.  In a run of ``=``, every other one escapes the next."""
    equals = np.flatnonzero(raw == 0x3D)
    if not len(equals):
        return raw.tobytes(), False
    first = np.ones(len(equals), bool)            # an "=" that starts a run of them
    first[1:] = equals[1:] != equals[:-1] + 1
    run_start = equals[first][np.cumsum(first) - 1]
    escapes = equals[(equals - run_start) % 2 == 0]
    out = raw.copy()
    out[escapes[escapes + 1 < len(raw)] + 1] -= 64
    keep = np.ones(len(raw), bool)
    keep[escapes] = False
    return out[keep].tobytes(), bool(escapes[-1] == len(raw) - 1)


def undo(body: bytes) -> bytes:
    """A part's lines, read: line breaks dropped, escapes undone, 42 taken from each byte; in numpy, CHUNK
    bytes at a time (a part of escapes alone makes no list of millions of pieces, nor arrays of its size
    eight bytes a byte).  An escape at the end escapes nothing."""
    data = body.replace(b"\r", b"").replace(b"\n", b"")
    pieces, carried = [], False
    for at in range(0, len(data), CHUNK):
        raw = np.frombuffer(data, np.uint8, count=min(CHUNK, len(data) - at), offset=at)
        if carried:                  # the escape that ended the piece before: this piece's first byte
            pieces.append(bytes(((int(raw[0]) - 64) & 0xFF,)))
            raw = raw[1:]
        piece, carried = _unescaped(raw)
        pieces.append(piece)
    return b"".join(pieces).translate(_LESS_42)


class YencDecoder(Decoder):
    name = "yenc"
    structural = True     # its parts stand for the view: no base64 runs looked for among its bytes

    @staticmethod
    def sniff(data: bytes) -> bool:
        at = magic.locate(data, BEGIN)
        return at >= 0 and _HEADER.match(data, at) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        at = magic.locate(data, BEGIN)
        while at >= 0:
            header = _HEADER.match(data, at)
            if header is None:
                at = magic.locate(data, BEGIN, at + 1)
                continue
            end = _END.search(data, header.end())
            stop = end.start() if end else len(data)
            after = data.find(b"\n", end.end() - 1) + 1 if end else len(data)      # past the =yend line
            budget.took(at, after or len(data))     # (bytes around the parts: a view of their own)
            body = data[header.end():stop]
            if len(body) > budget.remaining:
                budget.exhausted(left=len(body) - budget.remaining)
                body = body[:budget.remaining]
            out = undo(body)
            yield "yenc", out
            at = magic.locate(data, BEGIN, after or len(data))
