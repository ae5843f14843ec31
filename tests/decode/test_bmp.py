"""BMP, as Pillow writes it and as other writers may: the pixels' rows from the top, red first."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from sandbox.decode import Budget, expand
from sandbox.decode.bmp import BmpDecoder

CHAIN = ("tcp", "multipart:file=screen.bmp")


def _bmp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="BMP")
    return out.getvalue()


def _views(data: bytes) -> dict[str, bytes]:
    return dict(BmpDecoder.decode(data, Budget(1 << 26, "test")))


def test_pixels_come_out_from_the_top_red_first_without_padding():
    rng = np.random.default_rng(1)
    for mode, shape in (("RGB", (13, 7, 3)), ("RGBA", (5, 9, 4)), ("L", (11, 6)), ("P", (3, 5)), ("1", (9, 13))):
        image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), "L" if mode in "P1" else mode)
        image = image.convert(mode) if mode in ("P", "1") else image
        assert BmpDecoder.sniff(_bmp(image)), mode
        assert _views(_bmp(image)) == {"bmp:pixels": image.tobytes()}, mode


def _top_down(data: bytes, rows: int) -> bytes:
    """A bitmap Pillow wrote bottom up, stored top down as other writers may (a negative height)."""
    offset, width = int.from_bytes(data[10:14], "little"), int.from_bytes(data[18:22], "little")
    stride = len(data[offset:]) // rows
    body = b"".join(data[offset + r * stride:offset + (r + 1) * stride] for r in reversed(range(rows)))
    return data[:18] + width.to_bytes(4, "little") + (-rows).to_bytes(4, "little", signed=True) + data[26:offset] + body


def test_rows_stored_from_the_top_and_cut_files():
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (10, 15, 3), dtype=np.uint8))
    data = _bmp(image)
    assert _views(_top_down(data, 10)) == {"bmp:pixels": image.tobytes()}
    stride = 15 * 3 + 3                                   # a row padded to four bytes
    cut = data[:len(data) - 4 * stride - 5]               # the top four rows and some of a fifth gone
    assert _views(cut) == {"bmp:pixels": image.tobytes()[5 * 45:]}
    assert _views(data[:60]) == {}


def test_what_is_no_bitmap_is_left_alone():
    data = _bmp(Image.new("RGB", (4, 4)))
    assert not BmpDecoder.sniff(b"BM" + os.urandom(100))
    assert not BmpDecoder.sniff(data[:14] + (41).to_bytes(4, "little") + data[18:])    # no header of that size
    assert not BmpDecoder.sniff(data[:26] + (2).to_bytes(2, "little") + data[28:])     # two planes
    assert not BmpDecoder.sniff(data[:28] + (7).to_bytes(2, "little") + data[30:])     # 7 bits a pixel
    assert not BmpDecoder.sniff(data[:10] + (len(data)).to_bytes(4, "little") + data[14:])   # pixels past the end
    huge = data[:18] + (1 << 20).to_bytes(4, "little") * 2 + data[26:]                  # a size no data holds
    assert _views(huge) == {}


def test_run_length_pixels_are_said_not_read_and_a_png_inside_is_handed_on():
    data = _bmp(Image.new("L", (8, 8)).convert("P"))
    rle = data[:30] + (1).to_bytes(4, "little") + data[34:]
    exp = expand(rle, CHAIN)
    assert [(u.what, u.size) for u in exp.unread] == [("BMP run-length coded pixels", len(data) - int.from_bytes(data[10:14], "little"))]
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(png, format="PNG")
    inside = data[:10] + (54).to_bytes(4, "little") + data[14:28] + (24).to_bytes(2, "little") + (5).to_bytes(4, "little") + data[34:54] + png.getvalue()
    views = {v.chain[len(CHAIN):]: v.data for v in expand(inside, CHAIN).views}
    assert views[("bmp:pixels",)] == png.getvalue() and ("bmp:pixels", "png:pixels") in views
