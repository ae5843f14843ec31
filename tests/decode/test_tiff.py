"""TIFF: each image's strips or tiles read whatever their compression and byte order, the predictor
undone, several images, and what is not read (JPEG strips) left alone."""

from __future__ import annotations

import io
import random

from PIL import Image

from sandbox.decode.base import Budget
from sandbox.decode.tiff import TiffDecoder

PIXELS = random.Random(3).randbytes(300 * 40)


def _tiff(**options) -> bytes:
    out = io.BytesIO()
    Image.frombytes("L", (300, 40), PIXELS).save(out, format="TIFF", **options)
    return out.getvalue()


def _decode(data: bytes) -> dict[str, bytes]:
    assert TiffDecoder.sniff(data)
    return dict(TiffDecoder.decode(data, Budget(1 << 24, "test")))


def test_every_compression_and_the_predictor_give_the_pixels():
    for options in ({}, {"compression": "tiff_lzw"}, {"compression": "tiff_adobe_deflate"},
                    {"compression": "packbits"}, {"compression": "tiff_lzw", "tiffinfo": {317: 2}}):
        assert _decode(_tiff(**options)) == {"tiff:image 0": PIXELS}, options


def _big_endian(pixels: bytes, width: int) -> bytes:
    """A TIFF in Motorola byte order, written here: one uncompressed strip."""
    entries = [(256, 3, 1, width << 16), (257, 3, 1, (len(pixels) // width) << 16), (258, 3, 1, 8 << 16),
               (259, 3, 1, 1 << 16), (273, 4, 1, 8 + 2 + 12 * 6 + 4), (279, 4, 1, len(pixels))]
    ifd = len(entries).to_bytes(2, "big") + b"".join(
        tag.to_bytes(2, "big") + kind.to_bytes(2, "big") + count.to_bytes(4, "big") + value.to_bytes(4, "big")
        for tag, kind, count, value in entries) + bytes(4)
    return b"MM\x00*" + (8).to_bytes(4, "big") + ifd + pixels


def test_big_endian_and_several_images():
    out = io.BytesIO()
    first = Image.frombytes("L", (300, 40), PIXELS)
    second = Image.frombytes("L", (100, 10), PIXELS[:1000])
    first.save(out, format="TIFF", compression="tiff_lzw", save_all=True, append_images=[second])
    assert _decode(out.getvalue()) == {"tiff:image 0": PIXELS, "tiff:image 1": PIXELS[:1000]}
    assert _decode(_big_endian(PIXELS, 300)) == {"tiff:image 0": PIXELS}


def test_a_directory_chain_that_loops_and_strips_past_the_end_stop_quietly():
    data = bytearray(_tiff(compression="tiff_lzw"))
    ifd = int.from_bytes(data[4:8], "little")
    count = int.from_bytes(data[ifd:ifd + 2], "little")
    data[ifd + 2 + 12 * count: ifd + 6 + 12 * count] = ifd.to_bytes(4, "little")    # the next one is itself
    assert _decode(bytes(data)) == {"tiff:image 0": PIXELS}
    cut = _big_endian(PIXELS, 300)[:5000]                    # the directory first, the strip cut
    assert _decode(cut) == {"tiff:image 0": PIXELS[:5000 - 86]}


def test_the_budget_bounds_what_an_image_makes():
    zeros = io.BytesIO()
    Image.new("L", (4000, 4000)).save(zeros, format="TIFF", compression="tiff_lzw")
    budget = Budget(1 << 20, "test")
    out = dict(TiffDecoder.decode(zeros.getvalue(), budget))
    assert sum(map(len, out.values())) <= 1 << 20
