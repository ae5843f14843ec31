"""BMP (Windows bitmap): the pixels row after row from the top, label "bmp:pixels".

A bitmap's rows are stored from the bottom up, each padded to four bytes: data written into an
image's first pixels (its top rows) is at the file's end, a row at a time in reverse, and data hidden
in the pixels' low bits (``lowbits``) comes out of the file's bytes in the wrong order.  The header
(BITMAPCOREHEADER's 12 bytes, BITMAPINFOHEADER's 40 and its later forms) gives the size, the bits a
pixel and where the pixels begin; uncompressed and bit-field pixels are read, rows of a cut file as
far as they go.  Run-length coded pixels (RLE4, RLE8) are said not read; a JPEG or a PNG as pixels
is handed on as it is.  A pixel of 24 or 32 bits is stored blue first: it is put red first, as an
image's pixels are everywhere else.  The file stays a view: its bytes are searched as they are.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder

MAGIC = b"BM"
HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)       # core, info, adobe's, OS/2 2's, V4, V5
BITS = (1, 2, 4, 8, 16, 24, 32)
# Compression: none, bit fields (and with alpha); RLE8, RLE4, OS/2's RLE24; JPEG, PNG
PLAIN, RUN_LENGTH, EMBEDDED = frozenset((0, 3, 6)), frozenset((1, 2, 4)), frozenset((4, 5))
MAX_SIDE = 1 << 20


def _header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(where the pixels begin, width, height (negative: stored top down), bits a pixel, compression)."""
    if len(data) < 26 or not data.startswith(MAGIC):
        return None
    offset = int.from_bytes(data[10:14], "little")
    size = int.from_bytes(data[14:18], "little")
    if size not in HEADER_SIZES or len(data) < 14 + size or not 14 + size <= offset < len(data):
        return None
    if size == 12:
        width, height = int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little", signed=True)
        planes, bits, compression = int.from_bytes(data[22:24], "little"), int.from_bytes(data[24:26], "little"), 0
    else:
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        planes, bits = int.from_bytes(data[26:28], "little"), int.from_bytes(data[28:30], "little")
        compression = int.from_bytes(data[30:34], "little")
    if planes != 1 or bits not in BITS or not 0 < width <= MAX_SIDE or not 0 < abs(height) <= MAX_SIDE:
        return None
    if compression not in PLAIN | RUN_LENGTH | EMBEDDED:
        return None
    return offset, width, height, bits, compression


class BmpDecoder(Decoder):
    name = "bmp"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _header(data) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        found = _header(data)
        if found is None:
            return
        offset, width, height, bits, compression = found
        if compression in EMBEDDED and not (compression == 4 and bits == 4):     # 4: RLE4 below 16 bits
            yield "bmp:pixels", data[offset:]
            return
        if compression in RUN_LENGTH:
            budget.not_read("BMP run-length coded pixels", len(data) - offset)
            return
        used, stride = (width * bits + 7) // 8, (width * bits + 31) // 32 * 4
        rows = min(abs(height), (len(data) - offset) // stride)
        if not rows:
            return
        pixels = np.frombuffer(data, np.uint8, count=rows * stride, offset=offset).reshape(rows, stride)[:, :used]
        if height > 0:          # bottom up: the rows there are, the top one first
            pixels = pixels[::-1]
        if bits in (24, 32) and compression == 0:      # blue, green, red (alpha): as an image's pixels are
            channels = bits // 8
            pixels = pixels.reshape(rows, width, channels)[:, :, [2, 1, 0, 3][:channels]]
        out = pixels.tobytes()
        if len(out) > budget.remaining:
            budget.exhausted(left=len(out) - budget.remaining)
            out = out[:budget.remaining]
        yield "bmp:pixels", out
