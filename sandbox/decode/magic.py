"""Where the container and stream magics first occur in a view: one pass for all of them.

Five decoders (zip, gzip, zstd, xz, bz2) look for their magic anywhere in a view, not only at its
start.  Five ``bytes.find`` misses over random bytes cost five passes; here the view is mapped
with one ``bytes.translate`` (C) to byte classes (1 = a magic's first byte, 2 = a second byte,
3 = a third byte, 0 = anything else) and searched once for ``01 02 03``, which random bytes hold
about once per 130 KiB; only those candidates are compared with the magics.  The answer is kept
for the view being sniffed (every sniffer asks about the same bytes object in turn; the expander
drops it when it moves on), so all five sniffs together cost about what two ``find`` misses did.
"""

from __future__ import annotations

from sandbox.decode.codec import BZ2_MAGIC, GZIP_MAGIC, XZ_MAGIC, ZSTD_MAGIC

ZIP_LOCAL = b"PK\x03\x04"
MAGICS = (ZIP_LOCAL, GZIP_MAGIC, ZSTD_MAGIC, XZ_MAGIC, BZ2_MAGIC)
# Views are translated in windows so the class copy of a 256 MiB view stays bounded.
WINDOW = 32 * 1024 * 1024
# Candidates compared in Python per window; past this (a flood of one magic) the magics still
# missing are looked for with bytes.find from there, so a hostile view costs C speed, not a loop.
MAX_CANDIDATES = 1024
_NEEDLE = b"\x01\x02\x03"
_LONGEST = max(len(m) for m in MAGICS)


def _classes() -> bytes:
    table = bytearray(256)
    for m in MAGICS:
        for role in range(3):
            if table[m[role]] not in (0, role + 1):
                raise ValueError(f"magic byte {m[role]:#x} has two roles")  # the classes need one
            table[m[role]] = role + 1
    return bytes(table)


_TABLE = _classes()
_ASCII_MAGICS = tuple(m for m in MAGICS if m.isascii())
_cache: tuple[bytes, dict[bytes, int]] | None = None


def _scan(data: bytes) -> dict[bytes, int]:
    """First offset of every magic in ``data`` (-1 when absent)."""
    first = dict.fromkeys(MAGICS, -1)
    if data.isascii():  # text (one SIMD check): only the all-ASCII magics can be there
        for m in _ASCII_MAGICS:
            first[m] = data.find(m)
        return first
    missing = set(MAGICS)
    for start in range(0, len(data), WINDOW):
        window = data if len(data) <= WINDOW else data[start : start + WINDOW + _LONGEST - 1]
        classes = window.translate(_TABLE)
        at = classes.find(_NEEDLE)
        looked = 0
        while at >= 0 and at < WINDOW and missing:
            looked += 1
            if looked > MAX_CANDIDATES:
                for m in list(missing):
                    first[m] = data.find(m, start + at)
                return first
            for m in missing:
                if window.startswith(m, at):
                    first[m] = start + at
                    missing.discard(m)
                    break
            at = classes.find(_NEEDLE, at + 1)
        if not missing:
            break
    return first


def forget() -> None:
    """Drop the kept scan (and the view it holds): the expander calls this after each view."""
    global _cache
    _cache = None


def first(data: bytes, magic: bytes) -> int:
    """``data.find(magic)`` for one of MAGICS, from one shared scan of ``data``."""
    global _cache
    if _cache is None or _cache[0] is not data:
        _cache = (data, _scan(data))
    return _cache[1][magic]


def find(data: bytes, magic: bytes, start: int = 0) -> int:
    """``data.find(magic, start)``: the shared scan answers the first, bytes.find the others."""
    at = first(data, magic)
    return at if at < 0 or at >= start else data.find(magic, start)
