"""PNG (ISO 15948): the image data inflated, compressed text chunks opened, label "png:<chunk>".

A screenshot or a QC plot in a support bundle is a PNG.  Its text chunks can carry sample names and
run IDs (``zTXt``/``iTXt`` compressed), and its image data is a zlib stream: left closed it is random
bytes, content the rig could not read.  Inflated, a real image's filtered scanlines look like what they
are (far from random); bytes posing as pixels stay as random as they were and still count as unread.
Private and unknown chunks are left in the view as they are (their bytes are scanned there).  The image
is no set of parts that stands for the file: the view is still searched for streams inside it (a gzip
appended after IEND replayed clean while PNG counted as a container).

Where rows are filtered (Pillow filters every row of a grey or colour image), the pixels are a view of
their own, "png:pixels": reads written as a PNG's grey pixels replayed clean, each row's bytes being
their differences from the row's bytes before (filters undone by ``_kernels.png_unfilter``, Adam7's
seven passes put back in place; 16-bit samples low byte first, as memory holds them).  The filtered
bytes stay a view too: a sender may write its data there.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import keep, status_label
from sandbox.index import _kernels

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Text chunk keywords are 1-79 Latin-1 characters (ISO 15948 11.3.4.2); longer is not a keyword.
MAX_KEYWORD = 79
# Samples a pixel by colour type (ISO 15948 6.1), and the bit depths each allows
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Adam7's passes: (first column, first row, column step, row step)
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


class Header:
    """What IHDR says of the image's data: its size, bits a pixel and interlace."""

    __slots__ = ("width", "height", "depth", "bits", "interlaced")

    def __init__(self, body: bytes):
        self.width = int.from_bytes(body[0:4], "big")
        self.height = int.from_bytes(body[4:8], "big")
        self.depth, colour = body[8], body[9]
        self.bits = CHANNELS[colour] * self.depth if self.depth in DEPTHS.get(colour, ()) else 0
        self.interlaced = body[12] == 1

    @property
    def valid(self) -> bool:
        return self.bits > 0 and 0 < self.width < 1 << 31 and 0 < self.height < 1 << 31

    def stride(self, width: int) -> int:
        return (width * self.bits + 7) // 8


def _unfiltered(data: bytes, width: int, rows: int, header: Header) -> tuple[np.ndarray, int, bool]:
    """Rows of ``width`` pixels undone of their filters, from ``data``: (the rows, the bytes they took,
    whether any was filtered); fewer rows where ``data`` ends or a filter type is unknown."""
    stride = header.stride(width)
    rows = min(rows, len(data) // (stride + 1))
    out = np.empty((rows, stride), dtype=np.uint8)
    done = _kernels.png_unfilter(data[:rows * (stride + 1)], stride, max(1, header.bits // 8), out)
    types = np.frombuffer(data, np.uint8, count=done * (stride + 1))[::stride + 1]
    return out[:done], done * (stride + 1), bool(types.any())


def pixels(data: bytes, header: Header) -> tuple[bytes, bool]:
    """The image's pixels, row after row, from its inflated data (as far as it goes), and whether any
    row was filtered (or the image interlaced).  Interlaced passes are put in place where they are whole
    and a pixel is 8 bits or more (the image no larger than its data), else they stay apart."""
    if not header.interlaced:
        rows, _, filtered = _unfiltered(data, header.width, header.height, header)
        return rows.tobytes(), filtered
    size = max(1, header.bits // 8)
    whole = header.bits >= 8 and header.height * header.width * size <= len(data)
    image = np.zeros((header.height, header.width, size), np.uint8) if whole else None
    passes, at = [], 0
    for x0, y0, dx, dy in ADAM7:
        width, height = -(-(header.width - x0) // dx), -(-(header.height - y0) // dy)
        if width <= 0 or height <= 0:
            continue
        rows, took, _ = _unfiltered(data[at:], width, height, header)
        at += took
        if image is None:
            passes.append(rows.tobytes())
        else:
            image[y0:y0 + len(rows) * dy:dy, x0::dx] = rows.reshape(len(rows), width, size)
        if len(rows) < height:
            break
    return (image.tobytes() if image is not None else b"".join(passes)), True


def _little_endian(pixels: bytes, header: Header) -> bytes:
    """16-bit samples (stored high byte first) put low byte first, as a machine holds them: data written
    into a 16-bit image from memory comes back in its order."""
    if header.depth != 16:
        return pixels
    return np.frombuffer(pixels, np.uint16, count=len(pixels) // 2).byteswap().tobytes() + pixels[len(pixels) // 2 * 2:]


def _keyword(body: bytes) -> tuple[str, bytes] | None:
    """A text chunk's keyword (made printable) and what follows its NUL, or None if it has none."""
    cut = body.find(b"\x00", 0, MAX_KEYWORD + 1)
    if cut < 1:
        return None
    return body[:cut].decode("latin-1"), body[cut + 1:]


class PngDecoder(Decoder):
    name = "png"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.startswith(SIGNATURE)

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        mv = memoryview(data)
        pos = len(SIGNATURE)
        image: list[memoryview] = []
        header: Header | None = None
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos:pos + 4], "big")
            kind = data[pos + 4:pos + 8]
            if not kind.isalpha() or length > 0x7FFFFFFF:
                break                          # not a chunk: the rest is no PNG
            body = mv[pos + 8:min(len(data), pos + 8 + length)]
            pos += 12 + length
            if kind == b"IDAT":
                image.append(body)
            elif kind == b"IHDR" and header is None and len(body) == 13:
                header = Header(bytes(body))
            elif kind in (b"zTXt", b"iTXt"):
                found = _keyword(bytes(body))
                if found is None:
                    continue
                keyword, rest = found
                if kind == b"zTXt":
                    text = rest[1:]
                elif len(rest) >= 2 and rest[0] == 1:        # iTXt, compressed: skip language and translated keyword
                    after = rest[2:].split(b"\x00", 2)
                    text = after[2] if len(after) == 3 else b""
                else:
                    continue                   # an uncompressed iTXt: its text is in the view already
                got = drain("zlib", text, budget)
                if keep(got):
                    yield status_label(f"png:{kind.decode()} {keyword}", got.status), got.data
                if got.status == "limit":
                    return
            elif kind == b"IEND":
                break
        if image:
            got = drain("zlib", b"".join(image), budget)
            if keep(got):
                yield status_label("png:IDAT", got.status), got.data
            if got.data and header is not None and header.valid and budget.remaining > 0:
                found, filtered = pixels(got.data, header)
                if filtered and found:
                    if len(found) > budget.remaining:
                        budget.exhausted(left=len(found) - budget.remaining)
                        found = found[:budget.remaining]
                    yield status_label("png:pixels", got.status), _little_endian(found, header)
