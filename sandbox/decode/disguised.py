"""A compressed stream or an archive whose bytes were disguised: undone (label "disguised: <how>").

Compressing then disguising the result costs a sender one line: a gzip of reads XOR-ed with one byte
(or inverted, a byte added to each byte, each byte's bits rotated or reversed, its nibbles swapped),
XOR-ed with a key of two to four bytes, reversed whole, reversed in blocks of 2 to 16 bytes, or its
base64 or hex reversed, replayed clean: the body looked random (weighed as ciphertext sent to an
allowed place) and no decoder's magic was at its start.  A view is undone when its first bytes so
undone open a stream or an archive by a magic of four bytes or more (zstd, xz, bzip2 with its first
block's, LZ4, zip, 7z, lzip), or by gzip's three bytes and a header whose reserved flags are clear and
whose extra flags and system are those writers write, or by zlib's two (one in a thousand chance
bytes do: the stream undone must also inflate to its end and check, or over its first 16 KiB to 512
bytes or more).  A key of two to four bytes is read off the magic, whose bytes past the key check it
(two of them at least: zstd's, LZ4's and zip's two-byte keys, xz's and 7z's four; gzip's and bzip2's
one, with their headers' fields), or the header after it: a gzip's flags (no name or a name) give a
key of four bytes, checked by inflating its first 16 KiB; a zip member's version checks one.  A key
of five to sixteen bytes is read off a header writers write whole (``_long_headers``: bzip2's ten
bytes, xz's stream and first block headers, twenty; a gzip's with no time and a zip member's, ten or
thirty), each choice of the fields that vary tried (a block size, a check type), the rest of the
header checking it (sixteen bits at least; a gzip's, fewer, then an inflate), the one whose stream
reads taken: one look-up for all 196 ways, ~7 µs a random view.  The
whole view is undone and handed on; the decoders open what it holds.  Each way is a look-up of a
view's first bytes (and its last 16, for reversal): 50-80 µs a random view, 3 µs a text one.

A byte map is also looked for past a header of the sender's own, up to MAX_OFFSET bytes in (the view
undone from the magic on): a table of every two bytes a map makes a magic's first two; and on a view
reversed (a stream mapped, then reversed, or the other way round).  An encoding's text under a byte
map (base64 of a gzip XOR-ed with a byte replayed clean) is a view whose first 256 bytes hold most of hex's,
base32's or base64's alphabet in as many values, none far more often than the others, and which a map
makes all that alphabet's characters (a bitwise AND over the values present of the maps that make each
one: ~5 µs a text view; random bytes hold too many values to be looked at).  A binary view of few
values has such a map too (an SMB trace's, made base64 that decoded to a thousand members): the
alphabet's breadth and evenness tell them apart.

Out of reach: a key longer than a header writers write whole gives (a gzip with its time, a zstd
frame, an LZ4 frame: four bytes; a gzip of no time, a bzip2 or a zip member: eight; an xz: sixteen), a
key and a map at once, a key or a reversal past a header of the sender's own.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import (
    BZ2_MAGIC,
    FORMATS,
    GZIP_MAGIC,
    LZ4_MAGIC,
    LZIP_MAGIC,
    XZ_MAGIC,
    ZSTD_MAGIC,
    streaming,
    zlib_header,
)
from sandbox.decode.headerless import bz2_block
from sandbox.decode.magic import ZIP_LOCAL
from sandbox.decode.sevenzip import MAGIC as SEVENZIP_MAGIC
from sandbox.decode.xor import xored

HEAD = 16
MIN_VIEW = 24
# Compressed bytes show as many distinct values as random ones (256 * (1 - (255/256)^n) in n bytes):
# a view of fewer than this share of them among its first 256 is no disguised stream (text XOR-ed
# with a byte can open as zlib and inflate)
MIN_DISTINCT_SHARE = 0.6
# Magics checked in full: (format, bytes)
MAGICS: tuple[tuple[str, bytes], ...] = (
    ("zstd", ZSTD_MAGIC), ("xz", XZ_MAGIC), ("lz4", LZ4_MAGIC), ("zip", ZIP_LOCAL),
    ("7z", SEVENZIP_MAGIC), ("lzip", LZIP_MAGIC), ("gzip", GZIP_MAGIC))
_BZ2_BLOCK = b"1AY&SY"               # after "BZh" and the block size's digit
MAX_KEY = 4                           # bytes of a key read off a magic (xz's and 7z's: two left to check it)
MIN_CHECKED = 2                       # bytes of a magic past the key that check it
ZLIB_TRIAL = 16384                    # bytes of a zlib stream (or a gzip a key only its header checks) inflated
ZLIB_MIN_OUT = 512
ZLIB_MAX_OUT = 64 << 10               # bytes a trial inflates at most
BLOCKS = (2, 4, 8, 16)                # blocks whose bytes were reversed
# Header values writers write: gzip's extra flags and system (Python's 255), a zip member's version
GZIP_XFL = frozenset((0, 2, 4))
GZIP_OS = frozenset((*range(14), 255))
ZIP_VERSIONS = frozenset((10, 20, 45, 51, 63))
# A view whose first 256 bytes are this share or less of bytes other than text's is text (a disguised
# stream's bytes are as random as the stream's; LZ4's literals are text, but not its tokens)
MAX_BINARY_IN_TEXT = 0.02
_TEXT_BYTES = bytes([9, 10, 13, *range(0x20, 0x7F)])
_BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# The magics a key is read off, and how many of their bytes past it check it (gzip's header checks more)
_KEYED_MAGICS = tuple((magic, 1 if magic == GZIP_MAGIC else MIN_CHECKED) for _, magic in MAGICS) + ((BZ2_MAGIC, 1),)


def _byte_maps() -> tuple[list[str], np.ndarray]:
    """Every byte map the module docstring names (label, how each byte is undone), as rows of 256."""
    x = np.arange(256, dtype=np.uint16)
    labels, rows = [], []
    for k in range(1, 256):
        labels.append(f"xor 0x{k:02x}")
        rows.append(x ^ k)
    for k in range(1, 256):
        if k == 0x80:
            continue        # adding 0x80 is XOR-ing it
        labels.append(f"{k} added")
        rows.append((x - k) % 256)
    for r in range(1, 8):
        labels.append(f"bits rotated left {r}")
        rows.append(((x >> r) | (x << (8 - r))) & 0xFF)
    labels.append("bits reversed")
    rows.append(np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)]))
    labels.append("nibbles swapped")
    rows.append(((x & 0x0F) << 4) | (x >> 4))
    return labels, np.array(rows, dtype=np.uint8)


MAP_LABELS, MAPS = _byte_maps()
_INVERSE = np.argsort(MAPS, axis=1).astype(np.int64)     # each map's bytes by what they stand for

MAX_OFFSET = 64                               # bytes of a header of the sender's own before the stream
# An encoding's text under a byte map: its first TEXT_SAMPLE bytes hold MIN_ALPHABET of its alphabet at
# least, none more than MAX_SKEW times as often as it would be
TEXT_SAMPLE = 256
MIN_ALPHABET, MAX_SKEW = 0.75, 4


def _into(characters: bytes) -> tuple[frozenset[int], np.ndarray]:
    """An encoding's characters (and line ends), and by byte value the maps that make it one of them,
    a bit each (MAPS's order, little-endian words)."""
    inside = np.zeros(256, bool)
    inside[list(characters)] = True
    bits = np.zeros((256, -(-len(MAPS) // 64) * 64), bool)
    bits[:, :len(MAPS)] = inside[MAPS].T
    return frozenset(characters), np.packbits(bits, axis=1, bitorder="little").view(np.uint64)


# (symbols, characters, the maps each byte value is one of them under) of hex, base32 and base64
_ENCODINGS = tuple((symbols, *_into(c)) for symbols, c in (
    (16, b"0123456789abcdefABCDEF\r\n"), (32, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=\r\n"),
    (64, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n")))


def _pair_maps() -> tuple[np.ndarray, dict[int, list[int]]]:
    """By two bytes (a big-endian number): the byte map that makes them a magic's first two (-1: none;
    -2: more than one, in the dict)."""
    table, more = np.full(1 << 16, -1, dtype=np.int32), {}
    for magic in [m for _, m in MAGICS] + [BZ2_MAGIC]:
        for m in range(len(MAPS)):
            pair = int(_INVERSE[m, magic[0]]) << 8 | int(_INVERSE[m, magic[1]])
            if table[pair] == -1:
                table[pair] = m
            elif table[pair] != m:
                more.setdefault(pair, [] if table[pair] == -2 else [int(table[pair])]).append(m)
                table[pair] = -2
    return table, more


_PAIR_MAPS, _MORE_PAIR_MAPS = _pair_maps()


def _zlib_pair_maps() -> tuple[np.ndarray, np.ndarray]:
    """Every two bytes (a big-endian number) that a byte map makes a zlib header, sorted, and that map."""
    headers = np.array([cmf << 8 | flg for cmf in range(256) if cmf & 0x0F == 8 for flg in range(256)
                        if zlib_header(bytes((cmf, flg)))])
    pairs = (_INVERSE[:, headers >> 8] << 8 | _INVERSE[:, headers & 0xFF]).ravel()
    maps = np.repeat(np.arange(len(MAPS)), len(headers))
    order = np.argsort(pairs, kind="stable")
    return pairs[order], maps[order]


_ZLIB_PAIRS, _ZLIB_PAIR_MAPS = _zlib_pair_maps()


def _maps_for(pair: int) -> list[int]:
    found = int(_PAIR_MAPS[pair])
    return _MORE_PAIR_MAPS[pair] if found == -2 else [found]


def opens(head: bytes) -> bool:
    """Whether ``head`` (16 bytes or fewer) opens a stream or an archive (zlib judged apart)."""
    if not head:
        return False
    if head[:3] == BZ2_MAGIC:
        return len(head) >= 10 and 0x31 <= head[3] <= 0x39 and head[4:10] == _BZ2_BLOCK
    for fmt, magic in _BY_FIRST.get(head[0], ()):
        if head.startswith(magic):
            return len(head) >= HEAD and _HEADERS[fmt](head)
    return False


_BY_FIRST: dict[int, list[tuple[str, bytes]]] = {}
for _fmt, _magic in MAGICS:
    _BY_FIRST.setdefault(_magic[0], []).append((_fmt, _magic))
# The header after each magic, as its writers write it
_HEADERS = {
    # reserved flags clear, extra flags of a deflate level, a known system (Python's 255)
    "gzip": lambda h: not h[3] & 0xE0 and h[8] in GZIP_XFL and h[9] in GZIP_OS,
    "zstd": lambda h: not h[4] & 0x08,                                  # the descriptor's reserved bit
    "lz4": lambda h: h[4] >> 6 == 1 and not h[4] & 0x02 and not h[5] & 0x8F,   # version 01, reserved bits
    "xz": lambda h: h[6] == 0 and h[7] in (0, 1, 4, 10),                # stream flags: a check type
    "7z": lambda h: h[6] == 0 and h[7] <= 4,                            # format version 0.x
    # version needed to extract, flags of those defined, a method of those in use
    "zip": lambda h: h[4] in ZIP_VERSIONS and h[5] == 0 and not h[6] & 0xF0 and not h[7] & 0xF7
    and h[8] in (0, 8, 9, 12, 14, 93, 95, 98, 99) and h[9] == 0,
    "lzip": lambda h: 12 <= h[5] & 0x1F <= 29,                          # dictionary size 4 KiB to 512 MiB
}


def _inflates(trial: bytes, wbits: int = 15) -> bool:
    """Whether a stream's first bytes (``trial``) inflate without an error: to the stream's end (its
    check too), or over ZLIB_TRIAL bytes to ZLIB_MIN_OUT bytes or more (random bytes under a header
    that passes err within a few KiB)."""
    inflater = zlib.decompressobj(wbits)
    try:
        made = len(inflater.decompress(trial, ZLIB_MAX_OUT))     # (a bomb's first bytes: no more than this)
    except zlib.error:
        return False
    return inflater.eof or made >= ZLIB_MIN_OUT and (len(trial) >= ZLIB_TRIAL or made >= ZLIB_MAX_OUT)


def _keyed(data: bytes) -> bytes | None:
    """A key of 2 to MAX_KEY bytes read off a magic at the view's start, which the magic's other bytes
    check, or the header after it (the shortest that opens one)."""
    head = data[:HEAD]
    if len(head) < HEAD:
        return None
    for length, magic, start, checks in _KEY_CHECKS:
        # the magic's bytes past the key, undone with the key its first bytes give, are its own (and a
        # gzip's or zip's header fields what writers write: the first check refuses most)
        if all(head[j] ^ head[j % length] ^ start[j % length] in allowed for j, allowed in checks):
            key = bytes(a ^ b for a, b in zip(head[:length], start, strict=False))
            undone = bytes(b ^ key[i % length] for i, b in enumerate(head))
            if len(set(key)) > 1 and opens(undone) and (
                    len(start) - length >= MIN_CHECKED or _sound(magic, undone, data, key)):
                return key
    return None


# Longer keys, read off a header writers write whole (each choice of its fields that vary): bzip2's ten
# bytes (each block size), xz's stream header (each check type) and its first block's as single-threaded
# xz writes it (LZMA2, no sizes: its dictionary byte and padding then check), a gzip's with no time
# (Node's, Java's, Go's, .NET's, ``gzip -n``; extra flags and system then check, and an inflate), a zip
# member's (each version and flags; its method, and the high bytes of its name's and extra field's
# lengths, then check).  A row is a key length and a header; one whose first check fails (one look-up
# for all of them) costs nothing more.
MAX_LONG_KEY = 16
MIN_CHECK_BITS = 16           # what a row's checks leave to chance, -log2 (gzip's: ~10, then its inflate)
_ZERO = frozenset((0,))


def _long_headers() -> list[tuple[str, bytes, dict[int, frozenset[int]]]]:
    """(format, the bytes a header's first ones are, the values later ones may be)."""
    rows: list[tuple[str, bytes, dict[int, frozenset[int]]]] = []
    rows += [("bz2", BZ2_MAGIC + bytes((digit,)) + _BZ2_BLOCK, {}) for digit in b"987654321"]
    for check in (4, 1, 10, 0):
        stream = XZ_MAGIC + bytes((0, check)) + zlib.crc32(bytes((0, check))).to_bytes(4, "little")
        rows += [("xz", stream + b"\x02\x00\x21\x01", {16: frozenset(range(41)), 17: _ZERO, 18: _ZERO, 19: _ZERO}),
                 ("xz", stream, {})]
    rows += [("gzip", GZIP_MAGIC + bytes((flags, 0, 0, 0, 0)), {8: GZIP_XFL, 9: GZIP_OS}) for flags in (0, 8)]
    rows += [("zip", ZIP_LOCAL + bytes((version, 0, flags, utf8)),
              {8: frozenset((0, 8, 9, 12, 14, 93, 95, 98, 99)), 9: _ZERO, 27: _ZERO, 29: _ZERO})
             for version in sorted(ZIP_VERSIONS) for flags in (0, 8) for utf8 in (0, 8)]
    return rows


_Row = tuple[int, str, bytes, tuple[tuple[int, frozenset[int]], ...]]


def _long_rows() -> tuple[list[_Row], np.ndarray, np.ndarray, list[list[int]]]:
    """Each (key length, format, header, checks, the strongest first) whose checks leave MIN_CHECK_BITS
    or fewer to chance (gzip's: its inflate checks more), shortest keys first; and for the first look,
    each first check once (rows share them): its place, the place of the key byte it undoes with and
    what that one stands for, the values that pass it (a row of 256), and the rows it is first of."""
    rows: list[_Row] = []
    firsts: dict[tuple[int, int, int, frozenset[int]], list[int]] = {}
    for length in range(MAX_KEY + 1, MAX_LONG_KEY + 1):
        for fmt, start, later in _long_headers():
            if len(start) < length:
                continue
            checks = tuple(sorted([(j, frozenset((start[j],))) for j in range(length, len(start))] + [
                (j, allowed) for j, allowed in later.items() if j >= length], key=lambda c: (len(c[1]), c[0])))
            bits = sum(8 - np.log2(len(allowed)) for _, allowed in checks)
            if not checks or bits < MIN_CHECK_BITS and fmt != "gzip":
                continue
            j, allowed = checks[0]
            firsts.setdefault((j, j % length, start[j % length], allowed), []).append(len(rows))
            rows.append((length, fmt, start, checks))
    passes = np.zeros((len(firsts), 256), bool)
    for n, (*_, allowed) in enumerate(firsts):
        passes[n, list(allowed)] = True
    return rows, np.array([f[:3] for f in firsts], dtype=np.int64), passes, list(firsts.values())


_LONG_ROWS, _LONG_FIRST, _LONG_PASS, _LONG_FIRST_OF = _long_rows()
_LONG_INDEX = np.arange(len(_LONG_FIRST))
_LONG_HEAD = max(j for _, _, _, checks in _LONG_ROWS for j, _ in checks) + 1


def _long_keyed(data: bytes) -> bytes | None:
    """A key of MAX_KEY + 1 to MAX_LONG_KEY bytes read off a header at the view's start (``_long_headers``):
    of the rows whose checks pass and whose stream opens, the shortest key that reads on."""
    if len(data) < max(MIN_VIEW, _LONG_HEAD) or opens(data[:HEAD]):
        return None         # (a stream as it is, read with another block size or check type: its own decoder's)
    head = np.frombuffer(data, np.uint8, count=_LONG_HEAD)
    first = head[_LONG_FIRST[:, 0]] ^ head[_LONG_FIRST[:, 1]] ^ _LONG_FIRST[:, 2]
    read: dict[bytes, tuple[int, int]] = {}      # each key that opens a stream: (-its length, what it reads)
    for i in sorted(r for f in np.flatnonzero(_LONG_PASS[_LONG_INDEX, first]).tolist() for r in _LONG_FIRST_OF[f]):
        length, fmt, start, checks = _LONG_ROWS[i]
        key = (head[:length] ^ np.frombuffer(start[:length], np.uint8)).tobytes()
        if key in read or len(set(key)) == 1 or not all(data[j] ^ key[j % length] in allowed for j, allowed in checks):
            continue
        trial = xored(data[:ZLIB_TRIAL], key)
        if not opens(trial[:HEAD]):
            continue
        # (bzip2 makes nothing before its first block ends: its block header read to its tables instead)
        made = int(bz2_block(trial[10:])) if fmt == "bz2" else int(_inflates(trial, 31)) if fmt == "gzip" else _made(trial)
        if made:
            read[key] = (-length, made)
    # a field a header's choices differ in (bzip2's block size, xz's check type) is a key byte too: the
    # shortest key, then the one that reads most
    return max(read, key=read.__getitem__) if read else None


def _plaintexts(magic: bytes, length: int, checked: int) -> tuple[bytes, ...]:
    """What a view's first bytes stand for, to read a key of ``length`` bytes off: the magic, where
    ``checked`` of its bytes are left past the key; gzip's and zip's where the header after it checks
    the key instead (gzip's flags, no name or a name)."""
    if len(magic) - length >= checked:
        return (magic,)
    if magic == GZIP_MAGIC and length <= 4:
        return (magic,) if length == 3 else (magic + b"\x00", magic + b"\x08")
    return (magic,) if magic == ZIP_LOCAL and length == 4 else ()


# Header bytes past a magic a key must undo to one of these values: gzip's extra flags and system, a zip
# member's version (``_HEADERS``)
_FIELDS = {GZIP_MAGIC: ((8, GZIP_XFL), (9, GZIP_OS)), ZIP_LOCAL: ((4, ZIP_VERSIONS), (5, frozenset((0,))))}
# (key length, magic, what the first bytes stand for, the checks: (j, the values byte j undone may be)),
# shortest keys first
_KEY_CHECKS = tuple((length, magic, start, tuple((j, frozenset((start[j],))) for j in range(length, len(start)))
                     + _FIELDS.get(magic, ()))
                    for length in range(2, MAX_KEY + 1) for magic, checked in _KEYED_MAGICS
                    for start in _plaintexts(magic, length, checked))


def _sound(magic: bytes, head: bytes, data: bytes, key: bytes) -> bool:
    """A header no byte of magic checked ``key`` of (``head`` undone with it, its fields checked by
    ``opens``): a gzip's first bytes undone also inflate (``_inflates``)."""
    if magic != GZIP_MAGIC:
        return True         # a zip member's version is checked by ``opens``
    return _inflates(xored(data[:ZLIB_TRIAL], key), 31)


def disguise(data: bytes) -> tuple[str, str] | None:
    """How the view was disguised (a kind and its parameter), or None."""
    if len(data) < MIN_VIEW:
        return None
    m = _text_map(data)         # (before the magics: a map may make a magic of text's first bytes by chance)
    if m is not None:
        return "map", f"{m}@0"
    if len(data[:256].translate(None, _TEXT_BYTES)) <= MAX_BINARY_IN_TEXT * min(len(data), 256):
        return _reversed_text(data)     # text: no stream's bytes disguised, perhaps its base64 or hex reversed
    front = np.frombuffer(data, dtype=np.uint8, count=min(len(data), MAX_OFFSET + HEAD))
    # two bytes that a byte map makes a magic's first two, at each offset a header of the sender's own
    # may push it to (a table of every such pair)
    pairs = front[:-1].astype(np.int64) << 8 | front[1:]
    for offset in np.flatnonzero(_PAIR_MAPS[pairs[:MAX_OFFSET + 1]] != -1).tolist():
        piece = front[offset:offset + HEAD]
        opened = [m for m in _maps_for(int(pairs[offset])) if opens(MAPS[m][piece].tobytes())]
        if opened:      # XOR-ing and adding 0x20 agree on most header bytes: the map whose stream decodes
            trial = np.frombuffer(data[offset:offset + ZLIB_TRIAL], np.uint8)
            return "map", f"{max(opened, key=lambda m: _made(MAPS[m][trial].tobytes()))}@{offset}"
    if len(set(data[:256])) >= MIN_DISTINCT_SHARE * 256 * (1 - (255 / 256) ** min(len(data), 256)):
        trial = np.frombuffer(data[:ZLIB_TRIAL], np.uint8)
        pair = int(front[0]) << 8 | int(front[1])
        for m in _ZLIB_PAIR_MAPS[np.searchsorted(_ZLIB_PAIRS, pair):np.searchsorted(_ZLIB_PAIRS, pair, "right")].tolist():
            if _inflates(MAPS[m][trial].tobytes()):
                return "map", f"{m}@0"
    key = _keyed(data) or _long_keyed(data)
    if key is not None:
        return "key", key.hex()
    rear = data[-HEAD:][::-1]
    if opens(rear):
        return "reversed", ""
    pair = int(rear[0]) << 8 | rear[1] if len(rear) == HEAD else 0
    if pair and _PAIR_MAPS[pair] != -1:     # reversed, and each byte mapped (in either order: a map is per byte)
        undone = np.frombuffer(rear, np.uint8)
        opened = [m for m in _maps_for(pair) if opens(MAPS[m][undone].tobytes())]
        if opened:
            trial = np.frombuffer(data[-ZLIB_TRIAL:][::-1], np.uint8)
            return "reversed map", str(max(opened, key=lambda m: _made(MAPS[m][trial].tobytes())))
    for block in BLOCKS:
        if opens(b"".join(data[i:i + block][::-1] for i in range(0, HEAD, block))):
            return "blocks", str(block)
    return None


def _text_map(data: bytes) -> int | None:
    """The byte map that makes a view an encoding's text: base64 XOR-ed with a byte.  A map that makes
    every value among the view's first TEXT_SAMPLE bytes one of hex's, base32's or base64's characters
    (in that order: a shift maps base32 into base64's), where they were not, the view holding as many
    of them as an encoding of compressed bytes does (most of its alphabet, none far more often than
    the others): a binary view of few values has a map that makes them base64's too."""
    if len(data) < TEXT_SAMPLE:
        return None
    counts = np.bincount(np.frombuffer(data, np.uint8, count=TEXT_SAMPLE), minlength=256)
    distinct, most = int(np.count_nonzero(counts)), int(counts.max())
    for symbols, own, into in _ENCODINGS:
        if MIN_ALPHABET * symbols <= distinct <= len(own) and most * symbols <= MAX_SKEW * TEXT_SAMPLE:
            present = np.flatnonzero(counts)
            if own.issuperset(present.tolist()):
                return None             # that encoding's text as it is: its own decoder's
            maps = np.bitwise_and.reduce(into[present], axis=0)     # the maps that make each value one
            if maps.any():
                return int(np.flatnonzero(np.unpackbits(maps.view(np.uint8), bitorder="little"))[0])
    return None


def _made(trial: bytes) -> int:
    """Bytes the stream or archive ``trial`` opens makes before it stops (a member's deflate data in a
    zip; 7z and lzip: none, their magic and header are all that is judged)."""
    fmt = next((f for f, magic in (*MAGICS, ("bz2", BZ2_MAGIC)) if trial.startswith(magic)), "")
    if fmt == "zip":
        fmt, trial = "deflate", trial[30 + int.from_bytes(trial[26:28], "little") + int.from_bytes(trial[28:30], "little"):]
    if fmt not in FORMATS:
        return 0
    codec = FORMATS[fmt](streaming())
    return len(codec.feed_split(trial)[0])


def _reversed_text(data: bytes) -> tuple[str, str] | None:
    """Base64 or hex whose characters were reversed, of a stream or an archive."""
    first = data[-48:].translate(None, b"\r\n")[::-1][:32]      # the first characters, put back
    if first.translate(None, _BASE64_CHARS):
        return None
    for name, decode in (("base64", base64.b64decode), ("hex", binascii.unhexlify)):
        try:
            if opens(decode(first)):
                return f"{name} reversed", ""
        except (binascii.Error, ValueError):
            pass
    return None


def undo(data: bytes, how: tuple[str, str]) -> tuple[str, bytes]:
    """The view undone ``how`` (``disguise``'s answer), and its label."""
    kind, value = how
    if kind == "map":
        index, offset = (int(v) for v in value.split("@"))
        label = MAP_LABELS[index] + (f" from byte {offset}" if offset else "")
        return f"disguised: {label}", MAPS[index][np.frombuffer(data, np.uint8, offset=offset)].tobytes()
    if kind == "key":
        return f"disguised: xor key {value}", xored(data, bytes.fromhex(value))
    if kind == "blocks":
        size = int(value)
        whole = len(data) - len(data) % size
        body = np.frombuffer(data, np.uint8, count=whole).reshape(-1, size)[:, ::-1].tobytes()
        return f"disguised: reversed in blocks of {size}", body + data[whole:][::-1]
    if kind == "reversed":
        return "disguised: reversed", data[::-1]
    if kind == "reversed map":
        index = int(value)
        return f"disguised: reversed, {MAP_LABELS[index]}", MAPS[index][np.frombuffer(data[::-1], np.uint8)].tobytes()
    return f"disguised: {kind}", data.translate(None, b"\r\n")[::-1]


class DisguisedDecoder(Decoder):
    name = "disguised"
    reapply = False       # two disguises at once are out of reach (the module docstring)

    @staticmethod
    def sniff(data: bytes) -> bool:
        return disguise(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        how = disguise(data)
        if how is None:
            return
        if len(data) > budget.remaining:
            budget.exhausted(left=len(data))
            return
        yield undo(data, how)
