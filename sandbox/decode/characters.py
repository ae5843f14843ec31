"""Text whose symbols are characters of more than one byte: each character as one byte (label
"characters"), so a run of four of them is read as bases like any four symbols.

The correlator reads bases written in four other symbols when a symbol is a byte (or a text byte
with separators between them): ``sandbox.index.kmers.symbol_runs``.  Four characters UTF-8 writes in
two to four bytes each (zero-width spaces, which hide reads in plain sight; Greek letters; emoji) are
no such run, and reads written so replayed clean.  Here UTF-8 text holding such a run is re-written
one byte a character (``as_bytes``), separators between two wide characters dropped (``α, β, γ`` as
three bytes).  Only a view with a run that ``symbol_runs`` finds is handed on, so other text costs a
decode and a pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder
from sandbox.index.kmers import SYMBOL_RUN_MIN, symbol_runs

_LEADS = bytes(range(0xC2, 0xF5))      # bytes that start a UTF-8 character of two to four bytes
_SEPARATED = re.compile(r"(?<=[^\x00-\x7f])[ \t,;:|/._-]+(?=[^\x00-\x7f])")
_WIDE = re.compile(r"[^\x00-\x7f]+")
_CODES = 128                           # bytes 0x80-0xFF, one a character
SNIFF_BYTES = 4096                     # bytes that must be UTF-8 before the whole view is decoded


def as_bytes(text: str) -> bytes:
    """``text`` one byte a character: ASCII as it is, the others numbered from 0x80 as they first
    appear, the numbering started afresh when a 129th would be needed (so four characters of a run are
    four bytes whatever came before them; and a prefix of ``text`` gives a prefix of the bytes)."""
    text = _SEPARATED.sub("", text)
    wide = {c for c in set(text) if c > "\x7f"}
    if len(wide) <= _CODES:             # no numbering afresh: one translation
        order = sorted(wide, key=text.index)
        return text.translate({ord(c): 0x80 + i for i, c in enumerate(order)}).encode("latin-1")
    out = bytearray()
    codes: dict[str, int] = {}
    at = 0
    for m in _WIDE.finditer(text):
        out += text[at:m.start()].encode("ascii")
        for c in m.group():
            code = codes.get(c)
            if code is None:
                if len(codes) == _CODES:
                    codes.clear()
                code = codes[c] = 0x80 + len(codes)
            out.append(code)
        at = m.end()
    out += text[at:].encode("ascii")
    return bytes(out)


def _text(data: bytes) -> str | None:
    """``data`` as UTF-8, a character cut at its end dropped; None if it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 3 or exc.reason != "unexpected end of data":
            return None
        return data[:exc.start].decode("utf-8")


class CharactersDecoder(Decoder):
    name = "characters"
    unstructured = True
    reapply = False      # its output is bytes, not UTF-8 text

    @staticmethod
    def sniff(data: bytes) -> bool:
        return (not data.isascii()                         # most views are ASCII: one fast pass, nothing copied
                and _text(data[:SNIFF_BYTES]) is not None      # random bytes fail here, in their first bytes
                and len(data) - len(data.translate(None, _LEADS)) >= SYMBOL_RUN_MIN)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        text = _text(data)
        if text is None:
            return
        out = as_bytes(text)
        if len(out) > budget.remaining:
            budget.exhausted(left=len(data))
            return
        if len(symbol_runs(out, "bytes")) or len(symbol_runs(out, "spaced bytes")):
            yield "characters", out
