"""GIF (87a, 89a): each image's pixels decompressed, label "gif:image <n>"; comments joined ("gif:comment").

40 kB of reads written as the pixels of a GIF (a byte a pixel, or a base a pixel in four colours)
replayed clean: GIF's LZW codes run least significant bit first across sub-blocks of 255 bytes, and
leave no magic.  The blocks are walked (extensions skipped, comment extensions' text joined), each
image's sub-blocks joined and its codes decoded within the step's budget: by ``_kernels.lzw`` where
the code size is 8 (a byte a pixel), here where it is smaller (its alphabet is 2 to 128 colours);
an interlaced image's rows are put back in order.  Pixels are no parts of the file: the view is still
searched for streams inside it (a gzip appended to an image).
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder, drain_lzw

MAX_IMAGES = 64
MAX_BITS = 12


def _blocks(data: bytes, at: int) -> tuple[bytes, int]:
    """Sub-blocks from ``at`` joined, and where the terminator ends (the data's end if cut)."""
    parts = []
    while at < len(data):
        size = data[at]
        if not size:
            return b"".join(parts), at + 1
        parts.append(data[at + 1:at + 1 + size])
        at += 1 + size
    return b"".join(parts), len(data)


def _small_lzw(codes: bytes, size: int, cap: int) -> bytes:
    """GIF's LZW for a code size below 8 (least significant bit first, clear and end codes)."""
    clear, end = 1 << size, (1 << size) + 1
    table: list[bytes] = [bytes([n]) for n in range(clear)] + [b"", b""]
    width, out, prev = size + 1, bytearray(), b""
    value, bits, at = 0, 0, 0
    while len(out) < cap:
        while bits < width and at < len(codes):
            value |= codes[at] << bits
            bits += 8
            at += 1
        if bits < width:
            break
        code, value, bits = value & ((1 << width) - 1), value >> width, bits - width
        if code == clear:
            del table[clear + 2:]
            width, prev = size + 1, b""
            continue
        if code == end:
            break
        if code < len(table) and code not in (clear, end):
            entry = table[code]
        elif code == len(table) and prev:
            entry = prev + prev[:1]
        else:
            break                                       # a code out of the table: the data is broken
        out += entry
        if prev and len(table) < 1 << MAX_BITS:
            table.append(prev + entry[:1])
            if len(table) == 1 << width and width < MAX_BITS:
                width += 1
        prev = entry
    return bytes(out[:cap])


def _deinterlaced(pixels: bytes, width: int, height: int) -> bytes:
    """An interlaced image's rows (every 8th from 0, every 8th from 4, every 4th from 2, every 2nd from
    1) put back in order; of a cut image, the rows in order up to the first missing one."""
    if width <= 0 or height <= 0:
        return pixels
    order = [*range(0, height, 8), *range(4, height, 8), *range(2, height, 4), *range(1, height, 2)]
    rows = [pixels[n * width:(n + 1) * width] for n in range(min(height, len(pixels) // width))]
    placed: list[bytes | None] = [None] * height
    for row, at in zip(rows, order, strict=False):
        placed[at] = row
    whole = next((n for n, row in enumerate(placed) if row is None), height)
    return b"".join(row for row in placed[:whole] if row is not None)


class GifDecoder(Decoder):
    name = "gif"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data[:6] in (b"GIF87a", b"GIF89a")

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        if len(data) < 13:
            return
        at = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
        comments, images = [], 0
        while at < len(data) and images < MAX_IMAGES:
            kind = data[at]
            if kind == 0x21 and at + 1 < len(data):                     # an extension
                label = data[at + 1]
                body, at = _blocks(data, at + 2)
                if label == 0xFE:
                    comments.append(body)
            elif kind == 0x2C and at + 10 < len(data):                   # an image
                width, height = int.from_bytes(data[at + 5:at + 7], "little"), int.from_bytes(data[at + 7:at + 9], "little")
                packed = data[at + 9]
                at += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
                if at >= len(data):
                    break
                size = data[at]
                codes, at = _blocks(data, at + 1)
                if not 2 <= size <= 8 or budget.remaining <= 0:
                    continue
                if size == 8:
                    pixels = drain_lzw(codes, budget, msb=False, early=False).data
                else:
                    pixels = _small_lzw(codes, size, budget.remaining)
                if pixels and packed & 0x40:
                    pixels = _deinterlaced(pixels, width, height)
                if pixels:
                    yield f"gif:image {images}", pixels
                images += 1
            else:
                break                                                   # the trailer, or what is no block
        if comments:
            yield "gif:comment", b"".join(comments)
