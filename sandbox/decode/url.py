"""Percent-encoding: a form body (``a=1&b=2``, each value with label "url:<key>") or any
percent-encoded text as a whole (label "url")."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}")
# key=value pairs; keys are names (a base64 "abc==" is not a form), values never start with "=".
_FORM = re.compile(rb"[\w.%+*\[\]-]+=(?:[^=&\s][^&\s]*)?(?:&[\w.%+*\[\]-]+=(?:[^=&\s][^&\s]*)?)*&?")
_HEXVAL = np.full(256, -1, np.int16)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEXVAL[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEXVAL[_c] = 10 + _i
# Whole-view decoding needs this share of escapes: one "%20" in a sentence is not an encoding.
MIN_ESCAPE_SHARE = 0.01


def unquote(data: bytes, plus: bool) -> bytes:
    """Percent-decode with numpy (form values may be megabytes of %XX)."""
    if plus:
        data = data.replace(b"+", b" ")
    if b"%" not in data:
        return data
    arr = np.frombuffer(data, np.uint8)
    pct = np.flatnonzero(arr[:-2] == 0x25)
    hi, lo = _HEXVAL[arr[pct + 1]], _HEXVAL[arr[pct + 2]]
    ok = (hi >= 0) & (lo >= 0)
    pct, hi, lo = pct[ok], hi[ok], lo[ok]
    if not len(pct):
        return data
    # "%%41": the second % starts the escape; escapes never overlap since hex digits are not "%"
    out = arr.copy()
    out[pct] = (hi * 16 + lo).astype(np.uint8)
    keep = np.ones(len(arr), bool)
    keep[pct + 1] = False
    keep[pct + 2] = False
    return out[keep].tobytes()


def form_pair(pair: bytes) -> tuple[str, bytes, bytes | None]:
    """A form or query ``key=value``: its label ("url:<key>"), the value ("+" a space), and the value with
    its "+" kept when it has one (the writer's own: base64 sent unescaped), else None."""
    key, _, raw = pair.partition(b"=")
    label = f"url:{unquote(key, plus=True).decode('utf-8', 'replace')}"
    return label, unquote(raw, plus=True), unquote(raw, plus=False) if b"+" in raw else None


class UrlDecoder(Decoder):
    name = "url"
    text = True
    structural = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = data[:4096].strip()
        if b"=" not in head and b"%" not in head:
            return False
        stripped = data.strip()
        return text.printable(stripped) and not re.search(rb"\s", stripped[:4096])

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        stripped = data.strip()
        if re.search(rb"\s", stripped):
            return
        if _FORM.fullmatch(stripped):
            for pair in stripped.split(b"&"):
                label, out, kept = form_pair(pair)
                if out:
                    yield label, out
                    if kept is not None:
                        yield f"{label}(+)", kept
            return
        escapes = len(_ESCAPE.findall(stripped))
        if escapes and escapes * 3 >= MIN_ESCAPE_SHARE * len(stripped):
            yield "url", unquote(stripped, plus=False)
