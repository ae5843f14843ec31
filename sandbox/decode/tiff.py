"""TIFF (6.0): each image's strips or tiles decompressed and joined, label "tiff:image <n>".

Sequencers' older cameras wrote their tiles' images as TIFF, and a diagnostics bundle or a QC export
holds images.  40 kB of reads written as the pixels of an LZW-compressed TIFF (Pillow's, libtiff's
default compression) replayed clean: LZW leaves no magic inside the file, and its codes look like
compressed data.  The image file directory names each image's strips (or tiles), their compression
(none, LZW, Deflate, PackBits) and a horizontal-difference predictor; each strip is decoded within
the step's budget (LZW by ``_kernels.lzw``, TIFF's variant: codes of 9 to 12 bits, most significant
bit first, a width one code early), the predictor undone for 8-bit samples, and the image's bytes
handed on.  Other compressions (JPEG, CCITT fax) are left in the view as they are.  Pixels are no
parts of the file: the view is still searched for streams inside it (a gzip appended to an image).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder, drain, drain_lzw
from sandbox.decode.codec import keep

MAX_IMAGES = 64           # image file directories followed (a chain that loops ends here too)
MAX_ENTRIES = 1024        # entries read of one directory
MAX_PARTS = 1 << 16       # strips or tiles read of one image
NONE, LZW, DEFLATE, ADOBE_DEFLATE, PACKBITS = 1, 5, 8, 32946, 32773
# tag numbers (TIFF 6.0 section 8)
WIDTH, BITS, COMPRESSION, STRIP_OFFSETS, SAMPLES, STRIP_COUNTS, PREDICTOR = 256, 258, 259, 273, 277, 279, 317
TILE_WIDTH, TILE_OFFSETS, TILE_COUNTS = 322, 324, 325
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 16: 8}   # bytes of a value of each field type


def _entries(data: bytes, at: int, order: str) -> dict[int, list[int]] | None:
    """The directory at ``at``: its integer fields by tag (None when it does not fit the file)."""
    if at + 2 > len(data):
        return None
    (count,) = struct.unpack_from(order + "H", data, at)
    fields: dict[int, list[int]] = {}
    for n in range(min(count, MAX_ENTRIES)):
        entry = at + 2 + 12 * n
        if entry + 12 > len(data):
            return None
        tag, kind, number = struct.unpack_from(order + "HHI", data, entry)
        size = _SIZES.get(kind)
        if size is None or kind not in (3, 4, 16) or number > MAX_PARTS:
            continue
        where = entry + 8 if size * number <= 4 else struct.unpack_from(order + "I", data, entry + 8)[0]
        if where + size * number > len(data):
            continue
        code = {2: "H", 4: "I", 8: "Q"}[size]
        fields[tag] = list(struct.unpack_from(order + code * number, data, where))
    return fields


def _pack_bits(data: bytes, cap: int) -> bytes:
    """PackBits (TIFF 6.0 section 9): literal runs and repeated bytes (128 is no operation)."""
    out = bytearray()
    at = 0
    while at < len(data) and len(out) < cap:
        n = data[at]
        if n < 128:
            out += data[at + 1:at + 2 + n]
            at += 2 + n
        elif n > 128:
            out += data[at + 1:at + 2] * (257 - n)
            at += 2
        else:
            at += 1
    return bytes(out[:cap])


def _part(data: bytes, compression: int, budget: Budget) -> bytes | None:
    """One strip or tile decompressed within the budget (None: a compression not read, or broken)."""
    if compression == NONE:
        return data[:budget.remaining]
    if compression == PACKBITS:
        return _pack_bits(data, budget.remaining)
    if compression in (DEFLATE, ADOBE_DEFLATE):
        got = drain("zlib", data, budget)
    elif compression == LZW:
        got = drain_lzw(data, budget, msb=True, early=True)
    else:
        return None
    return got.data if keep(got) else None


def _unpredicted(image: bytes, width: int, samples: int) -> bytes:
    """Horizontal differencing (predictor 2) undone for 8-bit samples: each row's running sums."""
    row = width * samples
    if row <= 0 or len(image) < row:
        return image
    rows = np.frombuffer(image[:len(image) - len(image) % row], dtype=np.uint8).reshape(-1, row // samples, samples)
    summed = np.cumsum(rows, axis=1, dtype=np.uint8)
    return summed.tobytes() + image[len(image) - len(image) % row:]


class TiffDecoder(Decoder):
    name = "tiff"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data[:4] in (b"II*\x00", b"MM\x00*")

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        order = "<" if data[:2] == b"II" else ">"
        (at,) = struct.unpack_from(order + "I", data, 4) if len(data) >= 8 else (0,)
        seen: set[int] = set()
        for n in range(MAX_IMAGES):
            if not at or at in seen:
                return
            seen.add(at)
            fields = _entries(data, at, order)
            if fields is None:
                return
            image = _image(data, fields, budget)
            if image:
                yield f"tiff:image {n}", image
            nxt = at + 2 + 12 * struct.unpack_from(order + "H", data, at)[0]
            at = struct.unpack_from(order + "I", data, nxt)[0] if nxt + 4 <= len(data) else 0
            if budget.remaining <= 0:
                return


def _image(data: bytes, fields: dict[int, list[int]], budget: Budget) -> bytes:
    """An image's strips or tiles decoded and joined, its predictor undone."""
    compression = fields.get(COMPRESSION, [NONE])[0]
    offsets = fields.get(STRIP_OFFSETS) or fields.get(TILE_OFFSETS) or []
    counts = fields.get(STRIP_COUNTS) or fields.get(TILE_COUNTS) or []
    parts = []
    for offset, count in zip(offsets, counts, strict=False):
        if budget.remaining <= 0:
            break
        part = _part(data[offset:offset + count], compression, budget)
        if part is None:
            return b""
        budget.remaining -= len(part)
        parts.append(part)
    budget.remaining += sum(len(p) for p in parts)       # the expander takes the output from the budget
    image = b"".join(parts)
    if fields.get(PREDICTOR, [1])[0] == 2 and all(b == 8 for b in fields.get(BITS, [8])):
        width = (fields.get(TILE_WIDTH) or fields.get(WIDTH) or [0])[0]
        image = _unpredicted(image, width, fields.get(SAMPLES, [1])[0])
    return image
