"""Helpers for the text-level decoders: is this text, and where are the runs of an alphabet.

Runs are found by one compiled pass over a per-byte class table (``sandbox.index._kernels``), and
only runs that pass the caller's class test ever reach Python code.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from sandbox.index import _kernels

# Per-byte class bits.
B64 = 1  # standard or url-safe base64 alphabet, padding, and line breaks inside a block
LOWER = 2
DIGIT = 4
HEX = 8
UPPER = 16
B64_SYMBOL = 32  # + / - _
NUMBER = 64  # what lists of numbers are written with: digits, hex digits, "x", signs, separators, blanks

_CLASSES = np.zeros(256, np.uint8)
for _set, _bit in (
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=\r\n", B64),
    (b"abcdefghijklmnopqrstuvwxyz", LOWER),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", UPPER),
    (b"0123456789", DIGIT),
    (b"0123456789abcdefABCDEF", HEX),
    (b"+/-_", B64_SYMBOL),
    (b"0123456789abcdefABCDEFxX-,; \t\r\n", NUMBER),
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


def _text_window(w: bytes) -> bool:
    control = len(w.translate(None, _TEXT_BYTES))
    if control > (1 - TEXT_SHARE) * len(w):
        return False
    if w.isascii():
        return True
    # non-ASCII must be UTF-8 (random bytes are not); a window may cut a character at each end
    return w.decode("utf-8", "replace").count("\ufffd") <= MAX_CUT_CHARS


_kept: tuple[bytes, bool] | None = None  # the last view judged, and the answer


def looks_textual(data: bytes) -> bool:
    """Mostly printable ASCII or UTF-8 in three sampled windows (start, middle, end): cheap on
    any size.  The answer for the view being sniffed is kept (three text decoders ask about the
    same bytes object in turn; the expander drops it when it moves on, see ``forget``)."""
    global _kept
    if _kept is not None and _kept[0] is data:
        return _kept[1]
    n = len(data)
    if n <= 3 * SAMPLE:
        textual = bool(n) and _text_window(data)
    else:
        mid = n // 2 - SAMPLE // 2
        textual = all(_text_window(w) for w in (data[:SAMPLE], data[mid : mid + SAMPLE], data[-SAMPLE:]))
    _kept = (data, textual)
    return textual


def forget() -> None:
    """Drop the kept answer (and the view it holds): the expander calls this after each view."""
    global _kept, _encoded
    _kept = _encoded = None


def printable(data: bytes) -> bool:
    """Only printable ASCII and tab/CR/LF (what base64/hex/url/qp text consists of)."""
    if not data.isascii():
        return False
    return not data[:SAMPLE].translate(None, PRINTABLE) and not data.translate(None, PRINTABLE)


def _masked(bit: int) -> bytes:
    """Class table that is zero outside the alphabet ``bit`` (every byte inside has ``bit``)."""
    return np.where(_CLASSES & bit, _CLASSES, 0).astype(np.uint8).tobytes()


_MASKED = {bit: _masked(bit) for bit in (B64, HEX, NUMBER)}
RUNS_PER_CALL = 1 << 16  # rows the kernel fills per call: its buffer stays small on a 256 MiB view


ENCODED_RUN = 24     # base64's shortest run (hex's, 32, is one too: its digits are base64's letters)
_encoded: tuple[bytes, bool] | None = None  # the last view asked about, and the answer


def has_encoded_run(data: bytes) -> bool:
    """Whether ``data`` holds a run of base64's letters with a digit, long enough for base64 or hex to read
    (one C pass, stopped at the first): how a binary view (a MessagePack document, a framed record) shows
    text of an encoding inside it.  Kept for the view being sniffed, as ``looks_textual``'s answer is."""
    global _encoded
    if _encoded is None or _encoded[0] is not data:
        found = _kernels.class_runs(data, _MASKED[B64], ENCODED_RUN, DIGIT, np.empty((1, 3), dtype=np.int64), 0)[0]
        _encoded = (data, found > 0)
    return _encoded[1]


def runs(data: bytes, bit: int, min_len: int, need: int = 0) -> list[tuple[int, int, int]]:
    """Maximal runs of bytes of alphabet ``bit`` (B64, HEX or NUMBER), at least ``min_len`` long and
    containing every class in ``need``: (start, end, OR of the classes in the run)."""
    if need & LOWER and data.isupper():
        return []  # letters, none lowercase (FASTQ, DNA, upper-case logs): one C pass decides
    out = np.empty((min(len(data) // (min_len + 1) + 1, RUNS_PER_CALL), 3), dtype=np.int64)
    found: list[tuple[int, int, int]] = []
    at = 0
    while at < len(data):
        count, at = _kernels.class_runs(data, _MASKED[bit], min_len, need, out, at)
        found.extend(tuple(r) for r in out[:count].tolist())
    return found


# Runs of an encoding in a binary view that are lines of records of one size (a line each after a
# binary header): at least this many, most of them a stride apart, their lines this long at least.
STRIDED_COUNT = 3
STRIDED_MIN_LINE = 16
STRIDED_SHARE = 0.5     # of the runs whose start is within a few letters of the records' line start
STRIDED_EARLY = 8       # letters of a header a run may start with


def strided_lines(spans: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """The lines of records of one size where ``spans`` (runs of an encoding's letters, in order) are
    such lines with letters about them: a binary header's bytes are letters by chance (a quarter of them
    base64's), before a line or after the one before, so the runs are of many lengths and each alone
    decodes at a wrong alignment.  The records' size is the distance most runs start apart, the line's
    start within a record the one most runs start at, its length the one most runs starting there have:
    each run cut to that span (the last line as far as its run goes).  None when the runs are no such
    records."""
    if len(spans) < STRIDED_COUNT:
        return None
    starts = [a for a, _ in spans]
    stride, count = Counter(b - a for a, b in zip(starts, starts[1:], strict=False)).most_common(1)[0]
    if count < STRIDED_COUNT - 1 or stride < STRIDED_MIN_LINE:
        return None
    phase = Counter(a % stride for a in starts).most_common(1)[0][0]
    length = Counter(b - a for a, b in spans if a % stride == phase).most_common(1)[0][0]
    if length < STRIDED_MIN_LINE:
        return None
    lines = []
    for a, b in spans:
        start = a + (phase - a) % stride
        if start - a > STRIDED_EARLY:
            continue
        while start < b:        # a header all letters joins two lines in one run
            lines.append((start, min(b, start + length)))
            start += stride
    return lines if len(lines) >= max(STRIDED_COUNT, STRIDED_SHARE * len(spans)) else None
