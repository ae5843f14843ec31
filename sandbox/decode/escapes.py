"""Bytes written as a string literal's escapes: Python's ``b'\\x1f\\x8b...'``, C's and PHP's octal
``\\037\\213``, JavaScript's ``\\u001f`` (label "escapes").

A program that logs or serialises bytes with ``repr`` or ``addcslashes`` writes every byte outside
printable ASCII as an escape: a gzip of 40 kB of reads written so replayed clean.  A view with
MIN_ESCAPES byte escapes or more is read whole, each escape undone (by Python's own C decoder of
bytes literals, so hostile megabytes of escapes cost what a copy costs); other text is kept.
"""

from __future__ import annotations

import codecs
import itertools
import re
import warnings
from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

MIN_ESCAPES = 16          # byte escapes a view needs: a Windows path or a "\n" in a log is no encoding
_BYTE_ESCAPE = re.compile(rb"\\(?:x[0-9a-fA-F]{2}|[0-7]{3}|u00[0-9a-fA-F]{2})")
_HEX = np.zeros(257, dtype=bool)            # by byte value; 256: past the end
_HEX[np.frombuffer(b"0123456789abcdefABCDEF", np.uint8)] = True
_BACKSLASH, _X, _U, _ZERO = b"\\"[0], b"x"[0], b"u"[0], b"0"[0]
_CUT = re.compile(rb"\\(?:x[0-9a-fA-F]?|u(?:0(?:0[0-9a-fA-F]?)?)?)?")   # an escape the view's end cut


def _uncut(data: bytes) -> bytes:
    """``data`` without an escape its end cut short (a stream cut mid-escape: no byte made up)."""
    at = data.rfind(b"\\", max(0, len(data) - 5))
    if at < 0 or not _CUT.fullmatch(data, at):
        return data
    before = data[:at]
    return before if (len(before) - len(before.rstrip(b"\\"))) % 2 == 0 else data


def undo(data: bytes) -> bytes:
    """``data`` with every escape of a bytes literal undone (``\\xHH``, octal, ``\\n`` ...,
    ``\\u00HH``); a backslash that starts none is kept.  What Python's decoder would refuse is made
    its way first, in numpy: a ``\\x`` without two hex digits gets its backslash escaped, and
    ``\\u00HH`` is written ``\\xHH``; an escape cut by the end is dropped."""
    data = _uncut(data)
    raw = np.frombuffer(data, np.uint8)
    slashes = np.flatnonzero(raw == _BACKSLASH)
    if not len(slashes):
        return data
    first = np.ones(len(slashes), dtype=bool)        # a backslash that starts a run of them
    first[1:] = slashes[1:] != slashes[:-1] + 1
    run_start = slashes[first][np.cumsum(first) - 1]
    escape = slashes[(slashes - run_start) % 2 == 0]  # the backslashes that start an escape
    after = np.append(raw, np.full(5, 256, np.int16)).astype(np.int16)   # bytes on, past the end 256
    kind = after[escape + 1]
    lone = (kind == _X) & ~(_HEX[after[escape + 2]] & _HEX[after[escape + 3]])
    u00 = ((kind == _U) & (after[escape + 2] == _ZERO) & (after[escape + 3] == _ZERO)
           & _HEX[after[escape + 4]] & _HEX[after[escape + 5]])
    if lone.any() or u00.any():
        out = raw.copy()
        out[escape[u00] + 1] = _X
        keep = np.ones(len(out), dtype=bool)
        keep[np.concatenate((escape[u00] + 2, escape[u00] + 3))] = False
        out = np.insert(out, escape[lone], _BACKSLASH)[np.insert(keep, escape[lone], True)]
        data = out.tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # "\\q": not an escape, kept
        return codecs.escape_decode(data)[0]


class EscapesDecoder(Decoder):
    name = "escapes"
    text = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.count(b"\\") >= MIN_ESCAPES and text.looks_textual(data)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if len(list(itertools.islice(_BYTE_ESCAPE.finditer(data), MIN_ESCAPES))) == MIN_ESCAPES:
            yield "escapes", undo(data)
