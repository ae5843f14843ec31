"""Bytes written as HTML or XML character references: ``&#31;&#139;`` or ``&#x1f;&#x8b;`` (label "entities").

A program that escapes every byte of a "binary string" for an HTML or XML document (``String.fromCharCode``
of each byte, then ``&#NNN;`` for each character past ASCII or all of them) writes a gzip as character
references: a gzip of 40 kB of reads so written, decimal or hex, replayed clean (no decoder undid them;
the numbers decoder reads lists of numbers between separators, not ``&#`` and ``;``).  A view with
MIN_REFERENCES numeric references or more is read whole, each reference undone: a code point below 256
is that byte (a character a byte, as the binary string had it; not the Windows-1252 reading HTML gives
``&#128;``-``&#159;``), a higher one its UTF-8; named references (``&amp;``, HTML5's table) their text;
anything else (a code point past Unicode's, a surrogate, an unknown name) is kept as it is.  One
regular-expression pass: linear in the view, its output at most 1.2 times as long (``&nLt;``, five
characters, is six bytes of UTF-8; a numeric reference is never longer undone).
"""

from __future__ import annotations

import html.entities
import itertools
import re
from collections.abc import Iterator

from sandbox.decode import magic, text
from sandbox.decode.base import Budget, Decoder

MIN_REFERENCES = 16       # numeric references a view needs: a page's few "&#8217;" are no encoding
CHUNK = 1 << 16           # bytes undone at once
_NUMERIC = re.compile(rb"&#(?:[xX][0-9a-fA-F]{1,6}|[0-9]{1,7});?")
_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));?|&([A-Za-z][A-Za-z0-9]{1,31});")
_CUT = re.compile(rb"&(?:#[xX]?[0-9a-fA-F]{0,7}|[A-Za-z][A-Za-z0-9]{0,31})?")     # one the view's end cut
_NAMED = {name[:-1].encode(): value.encode("utf-8") for name, value in html.entities.html5.items() if name.endswith(";")}


def _undone(m: re.Match[bytes]) -> bytes:
    hexadecimal, decimal, name = m.groups()
    if name is not None:
        return _NAMED.get(name, m.group())
    point = int(hexadecimal, 16) if hexadecimal is not None else int(decimal)
    if point < 256:
        return bytes((point,))
    if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
        return m.group()
    return chr(point).encode("utf-8")


def _uncut(data: bytes) -> bytes:
    """``data`` without a reference its end may have cut (``&#7`` of ``&#70;``: no byte made up)."""
    at = data.rfind(b"&", max(0, len(data) - 10))
    return data[:at] if at >= 0 and _CUT.fullmatch(data, at) else data


def undo(data: bytes) -> bytes:
    """``data`` with every character reference undone (see the module docstring), CHUNK bytes at a time
    (each cut before its last ``&``: no reference split; a view of references alone makes no list of
    millions of pieces at once)."""
    data = _uncut(data)
    pieces, at = [], 0
    while at < len(data):
        end = min(len(data), at + CHUNK)
        if end < len(data):
            amp = data.rfind(b"&", end - 16, end)
            end = amp if amp > at else end
        pieces.append(_REFERENCE.sub(_undone, data[at:end]))
        at = end
    return b"".join(pieces)


class EntitiesDecoder(Decoder):
    name = "entities"
    text = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        # (the kernel's search first: a view of megabytes without one costs a fraction of a count)
        return magic.locate(data, b"&#") >= 0 and data.count(b"&#") >= MIN_REFERENCES and text.looks_textual(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if len(list(itertools.islice(_NUMERIC.finditer(data), MIN_REFERENCES))) == MIN_REFERENCES:
            yield "entities", undo(data)
