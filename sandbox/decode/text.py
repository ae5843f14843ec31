"""Vectorised helpers for the text-level decoders: is this text, and where are the runs of an alphabet.

Runs are found with one numpy pass over a per-byte class table (not a Python loop per byte),
and only runs that pass the caller's class test ever reach Python code.
"""

from __future__ import annotations

import numpy as np

# Per-byte class bits.
B64 = 1  # standard or url-safe base64 alphabet, padding, and line breaks inside a block
LOWER = 2
DIGIT = 4
HEX = 8
UPPER = 16
B64_SYMBOL = 32  # + / - _

_CLASSES = np.zeros(256, np.uint8)
for _set, _bit in (
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=\r\n", B64),
    (b"abcdefghijklmnopqrstuvwxyz", LOWER),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", UPPER),
    (b"0123456789", DIGIT),
    (b"0123456789abcdefABCDEF", HEX),
    (b"+/-_", B64_SYMBOL),
):
    for _c in _set:
        _CLASSES[_c] |= _bit

PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_TEXT_BYTES = PRINTABLE + bytes(range(0x80, 0x100))
MAX_CUT_CHARS = 2
# Share of printable (non-control) bytes in sampled windows above which a view counts as text;
# random bytes score ~0.88 here but fail the UTF-8 check.
TEXT_SHARE = 0.85
SAMPLE = 4096  # bytes per sampled window (start, middle, end)

# Runs are computed window by window so temporaries stay small on a 256 MiB view.
WINDOW = 4 * 1024 * 1024


def _text_window(w: bytes) -> bool:
    control = len(w.translate(None, _TEXT_BYTES))
    if control > (1 - TEXT_SHARE) * len(w):
        return False
    if w.isascii():
        return True
    # non-ASCII must be UTF-8 (random bytes are not); a window may cut a character at each end
    return w.decode("utf-8", "replace").count("\ufffd") <= MAX_CUT_CHARS


def looks_textual(data: bytes) -> bool:
    """Mostly printable ASCII or UTF-8 in three sampled windows (start, middle, end): cheap on
    any size."""
    n = len(data)
    if not n:
        return False
    if n <= 3 * SAMPLE:
        return _text_window(data)
    mid = n // 2 - SAMPLE // 2
    return all(_text_window(w) for w in (data[:SAMPLE], data[mid : mid + SAMPLE], data[-SAMPLE:]))


def printable(data: bytes) -> bool:
    """Only printable ASCII and tab/CR/LF (what base64/hex/url/qp text consists of)."""
    if not data.isascii():
        return False
    return not data[:SAMPLE].translate(None, PRINTABLE) and not data.translate(None, PRINTABLE)


def _masked(bit: int) -> bytes:
    """Translation table that is zero outside the alphabet ``bit`` (every byte inside has ``bit``)."""
    return np.where(_CLASSES & bit, _CLASSES, 0).astype(np.uint8).tobytes()


_MASKED = {bit: _masked(bit) for bit in (B64, HEX)}


def _window_runs(
    data: bytes, offset: int, bit: int, min_len: int, need: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs in one window that are long enough and have the ``need`` classes, plus edge runs."""
    cls = np.frombuffer(data.translate(_MASKED[bit]), np.uint8)
    inside = cls.astype(bool)
    edges = np.flatnonzero(inside[1:] != inside[:-1]) + 1
    rising = inside[edges]
    starts, ends = edges[rising], edges[~rising]
    if inside[0]:
        starts = np.concatenate(([0], starts))
    if inside[-1]:
        ends = np.concatenate((ends, [len(data)]))
    edge = (starts == 0) | (ends == len(data))
    pick = (ends - starts >= min_len) | edge
    starts, ends, edge = starts[pick], ends[pick], edge[pick]
    if not len(starts):
        return starts, ends, starts
    # OR of the classes inside each run: reduceat over [start, end) pairs, odd slots discarded.
    bounds = np.stack((starts, ends), axis=1).ravel()
    if bounds[-1] == len(data):
        bounds = bounds[:-1]
    bits = np.bitwise_or.reduceat(cls, bounds)[::2]
    ok = ((bits & need) == need) | edge
    return starts[ok] + offset, ends[ok] + offset, bits[ok]


def runs(data: bytes, bit: int, min_len: int, need: int = 0) -> list[tuple[int, int, int]]:
    """Maximal runs of bytes of alphabet ``bit`` (B64 or HEX), at least ``min_len`` long and
    containing every class in ``need``: (start, end, OR of the classes in the run)."""
    out: list[tuple[int, int, int]] = []
    if need & LOWER and data.isupper():
        return out  # letters, none lowercase (FASTQ, DNA, upper-case logs): one C pass decides
    carry: tuple[int, int, int] | None = None  # a run touching the previous window's end
    n = len(data)
    for offset in range(0, n, WINDOW):
        starts, ends, bits = _window_runs(data[offset : offset + WINDOW], offset, bit, min_len, need)
        last = min(n, offset + WINDOW)
        found = list(zip(starts.tolist(), ends.tolist(), bits.tolist(), strict=True))
        if carry is not None:
            if found and found[0][0] == offset:
                found[0] = (carry[0], found[0][1], carry[2] | found[0][2])
            else:
                found.insert(0, carry)
            carry = None
        if found and found[-1][1] == last and last < n:
            carry = found.pop()
        out.extend(r for r in found if r[1] - r[0] >= min_len and r[2] & need == need)
    if carry is not None and carry[1] - carry[0] >= min_len and carry[2] & need == need:
        out.append(carry)
    return out
