"""Strings from the traffic, made safe once: valid UTF-8, bounded, no control characters, no reads.

A name the instrument chose (URL path, Host, SNI, HELO, DNS label, archive member or multipart file
name) reaches the store, the reports and the terminal.  ``safe_text`` is applied where such a string
enters the core (``FlowContext``, the expander's chain labels, ``FlowInfo``) and again by every text
output, so invalid UTF-8 cannot crash a writer, an escape sequence cannot clear or retitle the
operator's terminal or forge a line, XML stays well-formed, and a read or a variant record hidden in a
name is shown as a marker (length and short hash) rather than copied.  It is idempotent: a safe string stays as it is.
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from typing import Any

# Characters kept of one name, host, path or label: enough to recognise it (URL paths are cut at 200
# by the HTTP parsers), little enough that a hostile 1 MB header costs nothing downstream.
MAX_TEXT = 256
# Characters kept of a string a report shows (run paths, error messages): a path can be PATH_MAX long.
MAX_SHOWN = 4096
# Input looked at per string: escaping at most quadruples a character, so this fills any limit.
SCAN_FACTOR = 4
# A stretch of this many bases (A, C, G, T, N, either case) is sequence, not a word: no host, path or
# file name has one by chance, and it is shorter than a k-mer (31), so what the correlator can match
# in a name is always hidden.
MIN_DNA_RUN = 24
# Stretches of at least this many bases joined by single separators count as one run, so a read cut
# into DNS labels or path segments ("ACGT...ACGT.ACGT...") is hidden whole.
MIN_DNA_PIECE = 8
# Bits per symbol a stretch of four symbols needs to be taken for bases written otherwise: reads have
# about 2, a number with many zeros ("2026120600000000000000001") 1.3.
MIN_SYMBOL_ENTROPY = 1.5
MARKER_HASH_HEX = 8  # hex digits of SHA-256 in a marker: enough to tell markers apart, not to invert
_CACHED = 4096  # distinct strings remembered: labels repeat ("http/1.1 POST /upload") on every payload
_CACHED_LEN = MAX_TEXT * SCAN_FACTOR  # ... if no longer than a name can be: the cache stays ~4 MB

_DNA = re.compile(rf"[ACGTNacgtn]{{{MIN_DNA_PIECE},}}(?:[^A-Za-z0-9][ACGTNacgtn]{{{MIN_DNA_PIECE},}})*")
# Letters and digits in pieces joined by single separators: where bases written in four other symbols
# (RNA's U, digits, any four letters: what the correlator reads, ``symbol_runs``) can hide in a name.
_PIECES = re.compile(rf"[A-Za-z0-9]{{{MIN_DNA_PIECE},}}(?:[^A-Za-z0-9][A-Za-z0-9]{{{MIN_DNA_PIECE},}})*")
# A variant record written into a name ("8216712-A-G", "g.8216712A>G", "8216712:a:g"): a number, then
# two allele tokens (what the correlator reads as a position with its alleles, ``variants``).
_VARIANT = re.compile(r"(?<![A-Za-z0-9])[0-9]{2,9}[-_:./ >|,]?[ACGTNacgtn]{1,20}[-_:./ >|,]{1,2}[ACGTNacgtn]{1,20}"
                      r"(?![A-Za-z0-9])")
# C0, DEL and C1 controls; lone surrogates (undecodable bytes); U+2028/9 (line breaks); the bidi
# controls that reorder what a reader sees (Trojan Source); U+FFFE/F (not XML characters).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NOT_BASES = bytes(b for b in range(256) if b not in b"ACGTN")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def marker(text: str | bytes, bases: bool = False) -> str:
    """``«redacted 150 B #a1b2c3d4»``: the length of what was hidden and a short hash of it, so a
    reviewer can tell two markers apart or check one against the run, without the data itself.
    With ``bases`` the hash is of the bases only, upper case, so a read hashes the same in a URL path
    and, lower-cased and cut into labels, in a host name."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    size = len(raw)
    if bases:
        raw = raw.upper().translate(None, _NOT_BASES)
    digest = hashlib.sha256(raw).hexdigest()[:MARKER_HASH_HEX]
    return f"«redacted {size} B #{digest}»"


def redact_dna(text: str) -> str:
    """Every run of >= MIN_DNA_RUN bases (counted across single separators) becomes a marker."""

    def hide(m: re.Match[str]) -> str:
        run = m.group()
        return marker(run, bases=True) if sum(map(run.count, "ACGTNacgtn")) >= MIN_DNA_RUN else run

    return _DNA.sub(hide, text)


def _entropy(stretch: str) -> float:
    """Bits per symbol of the letters and digits of ``stretch`` (either case)."""
    letters = [c.lower() for c in stretch if c in _ALNUM]
    counts = [letters.count(c) / len(letters) for c in set(letters)]
    return -sum(p * math.log2(p) for p in counts)


def redact_symbols(text: str) -> str:
    """Every stretch of >= MIN_DNA_RUN letters and digits made of exactly four (either case, counted
    across single separators) becomes a marker: bases written as "0123", as RNA or in any four
    letters are hidden as reads are."""

    def hide(m: re.Match[str]) -> str:
        piece = m.group()
        spans: list[tuple[int, int]] = []
        start, seen, count = 0, set(), 0
        for i, c in enumerate(piece):
            if c not in _ALNUM:          # a separator between pieces
                continue
            folded = c.lower()
            if folded not in seen and len(seen) == 4:
                if count >= MIN_DNA_RUN:
                    spans.append((start, i if piece[i - 1] in _ALNUM else i - 1))   # not its separator
                start, seen, count = i, set(), 0
            seen.add(folded)
            count += 1
        if len(seen) == 4 and count >= MIN_DNA_RUN:
            spans.append((start, len(piece)))
        out, at = [], 0
        for a, b in spans:
            if _entropy(piece[a:b]) >= MIN_SYMBOL_ENTROPY:
                out += [piece[at:a], marker(piece[a:b])]
                at = b
        return "".join(out) + piece[at:]

    return _PIECES.sub(hide, text)


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named:
        return named
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): shown as that byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _safe(value: str | bytes, limit: int) -> str:
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    if _DNA.search(text):
        text = redact_dna(text)
    if _PIECES.search(text):
        text = redact_symbols(text)
    if _VARIANT.search(text):
        text = _VARIANT.sub(lambda m: marker(m.group()), text)
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(_escape, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_safe_cached = lru_cache(maxsize=_CACHED)(_safe)


def safe_text(value: str | bytes | bytearray | memoryview | None, limit: int = MAX_TEXT) -> str:
    """A string from the wire as something every output can hold: undecodable bytes as ``\\xNN``,
    control and bidi characters escaped (``\\x1b``, ``\\n``, ``\\u202e``), reads as markers, at most
    ``limit`` characters (a cut one ends in "…")."""
    if value.__class__ not in (str, bytes):
        if value is None:
            return ""
        value = bytes(value[: limit * SCAN_FACTOR]) if isinstance(value, bytearray | memoryview) else str(value)
    if len(value) > _CACHED_LEN:
        return _safe(value[: limit * SCAN_FACTOR], limit)
    return _safe_cached(value, limit)


def safe_tree(value: Any, limit: int = MAX_SHOWN) -> Any:
    """``safe_text`` on every string (keys included) of a JSON-like value; other leaves unchanged."""
    if isinstance(value, str | bytes):
        return safe_text(value, limit)
    if isinstance(value, dict):
        return {safe_tree(k, limit) if isinstance(k, str) else k: safe_tree(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_tree(v, limit) for v in value]
    return value


class SafeMeta(dict):
    """``FlowInfo.meta``: a dict whose values are made safe as parsers put them in (the Host, SNI,
    HELO, FTP user and file names, certificate names they copy from the wire)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.update(*args, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, safe_tree(value, MAX_TEXT))

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value
