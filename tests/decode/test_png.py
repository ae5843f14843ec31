"""PNG, as Pillow writes it: compressed text chunks opened, image data inflated so a real picture is
content the rig has read, while bytes posing as pixels still count as unread."""

from __future__ import annotations

import io
import os
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

from sandbox.decode import Budget, expand
from sandbox.decode.png import ADAM7, SIGNATURE, PngDecoder
from sandbox.decode.unopened import BLOCK, unopened_bytes

CHAIN = ("tcp", "multipart:file=qc.png")
NOTE = "Sample NA12878-blood, run 230825_M04034_0043, flowcell L6NVV: Q30 92.1%"


def _png(pixels: np.ndarray, **text: tuple[str, bool]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, (value, itxt) in text.items():
        if itxt:
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value, zip=True)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _plot() -> np.ndarray:
    """A QC plot: white, axes, a curve, a filled band."""
    img = np.full((600, 800, 3), 255, np.uint8)
    img[550, 50:750] = img[50:550, 50] = 0
    x = np.arange(50, 750)
    y = (300 + 150 * np.sin(x / 60)).astype(int)
    img[y, x] = (200, 30, 30)
    img[400:450, 100:700] = (210, 225, 245)
    return img


def _unopened(data: bytes) -> int:
    exp = expand(data, CHAIN)
    return unopened_bytes([v.data for v in exp.views], exp.explained)


def test_compressed_text_chunks_are_opened():
    data = _png(_plot(), Comment=(NOTE, False), Description=(NOTE + " (itxt)", True))
    views = {v.chain[-1]: v.data for v in expand(data, CHAIN).views}
    assert views["png:zTXt Comment"] == NOTE.encode()
    assert views["png:iTXt Description"] == (NOTE + " (itxt)").encode()
    assert len(views["png:IDAT"]) == 600 * (1 + 800 * 3)        # a filter byte, then the row


def test_a_real_picture_is_read_and_random_pixels_are_not():
    assert _unopened(_png(_plot())) < BLOCK          # at most the container's own bytes, to a block
    rng = np.random.default_rng(3)
    photo = np.clip(rng.normal(0, 6, (480, 640, 3)).cumsum(axis=1) + 128, 0, 255).astype(np.uint8)
    assert _unopened(_png(photo)) < len(_png(photo)) // 4
    noise = np.frombuffer(os.urandom(480 * 640 * 3), np.uint8).reshape(480, 640, 3)     # ciphertext as pixels
    assert _unopened(_png(noise)) >= 480 * 640 * 3 - 2 * BLOCK


def test_cut_and_damaged_files():
    data = _png(_plot(), Comment=(NOTE, False))
    cut = data[: len(data) // 2]
    labels = [label for label, _ in PngDecoder.decode(cut, Budget(1 << 26, "test"))]
    assert labels == ["png:zTXt Comment", "png:IDAT(truncated)", "png:pixels(truncated)"]
    assert not PngDecoder.sniff(data.replace(b"\r\n", b"\n", 1))     # a text-mode copy is no PNG
    garbage = data[:8] + os.urandom(4000)
    assert list(PngDecoder.decode(garbage, Budget(1 << 26, "test"))) == []


def _pixels_view(data: bytes) -> bytes | None:
    views = {label: view for label, view in PngDecoder.decode(data, Budget(1 << 26, "test"))}
    return next((view for label, view in views.items() if label.startswith("png:pixels")), None)


def test_filtered_rows_are_undone_into_the_pixels():
    """Pillow filters every row of a grey or colour image (Sub, Up, Average, Paeth as each row fits
    best): reads written as pixels were in no view, only their differences."""
    rng = np.random.default_rng(5)
    for pixels in (_plot(), rng.integers(0, 256, (97, 131), dtype=np.uint8),
                   np.frombuffer(b"ACGTTGCA" * 4000, np.uint8).reshape(100, 320),
                   rng.integers(0, 256, (40, 50, 4), dtype=np.uint8),
                   rng.integers(0, 65536, (30, 70), dtype=np.uint16)):
        assert _pixels_view(_png(pixels)) == Image.fromarray(pixels).tobytes()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _written(pixels: np.ndarray, colour: int, depth: int, interlaced: bool, filters: tuple[int, ...] = (0,)) -> bytes:
    """A PNG of ``pixels`` (rows, columns, bytes a pixel) written here, Adam7 interlaced or not, each row
    given the next of ``filters`` in turn (only None and Sub: enough to be undone)."""
    def rows(image: np.ndarray) -> bytes:
        out = []
        for n, row in enumerate(image.reshape(image.shape[0], -1)):
            kind = filters[n % len(filters)]
            size = image.shape[2] if image.ndim == 3 else 1
            line = row if kind == 0 else (row.astype(np.int16) - np.concatenate([np.zeros(size, np.int16), row[:-size]])) % 256
            out.append(bytes([kind]) + line.astype(np.uint8).tobytes())
        return b"".join(out)

    height, width = pixels.shape[:2]
    if interlaced:
        data = b"".join(rows(pixels[y0::dy, x0::dx]) for x0, y0, dx, dy in ADAM7
                        if pixels[y0::dy, x0::dx].size)
    else:
        data = rows(pixels)
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([depth, colour, 0, 0, int(interlaced)])
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b"")


def test_interlaced_images_are_put_back_in_place():
    rng = np.random.default_rng(6)
    for height, width in ((1, 1), (3, 5), (8, 8), (37, 61)):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        assert _pixels_view(_written(rgb, 2, 8, True, (1, 0))) == rgb.tobytes()
        grey16 = rng.integers(0, 256, (height, width, 2), dtype=np.uint8)
        assert _pixels_view(_written(grey16, 0, 16, True)) == grey16[:, :, ::-1].tobytes()    # low byte first


def test_what_is_no_image_is_bounded_and_said_as_it_is():
    rng = np.random.default_rng(7)
    grey = rng.integers(0, 256, (20, 30, 1), dtype=np.uint8)
    assert _pixels_view(_written(grey, 0, 8, False)) is None        # no row filtered: the image data is the pixels
    assert _pixels_view(_written(grey, 0, 8, False, (1,))) == grey.tobytes()
    header = _written(grey, 0, 8, False, (1,)).index(b"IHDR") + 4
    for width, height in ((1 << 30, 1 << 30), (1 << 30, 1), (1, 1 << 30)):   # sizes no data holds
        data = _written(grey, 0, 8, width == height, (1,))
        huge = data[:header] + width.to_bytes(4, "big") + height.to_bytes(4, "big") + data[header + 8:]
        views = dict(PngDecoder.decode(huge, Budget(1 << 26, "test")))       # no error, nothing allocated
        assert len(views.get("png:pixels", b"")) <= len(views["png:IDAT"])
    cut = _written(rng.integers(0, 256, (50, 40, 3), dtype=np.uint8), 2, 8, False, (1,))
    views = dict(PngDecoder.decode(cut[:len(cut) // 2], Budget(1 << 26, "test")))
    assert len(views["png:pixels(truncated)"]) % 120 == 0      # whole rows, as far as the data goes
    bad = _written(grey, 0, 8, False, (1, 7))                      # a filter type past 4: rows to it
    assert _pixels_view(bad) == grey[:1].tobytes()


def test_interlaced_passes_below_a_byte_a_pixel_stay_apart():
    """Adam7's passes of a 1-bit image, each row a filter type and its packed pixels: the passes' rows
    one after the other."""
    rng = np.random.default_rng(8)
    side, data, passes = 21, [], []
    for x0, y0, dx, dy in ADAM7:
        width, height = -(-(side - x0) // dx), -(-(side - y0) // dy)
        for _ in range(height if width > 0 else 0):
            row = rng.integers(0, 256, -(-width // 8), dtype=np.uint8).tobytes()
            data.append(b"\x00" + row)
            passes.append(row)
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 1])
    png = SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(data)))
    assert _pixels_view(png) == b"".join(passes)
