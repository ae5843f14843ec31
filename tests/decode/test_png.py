"""PNG, as Pillow writes it: compressed text chunks opened, image data inflated so a real picture is
content the rig has read, while bytes posing as pixels still count as unread."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image, PngImagePlugin

from sandbox.decode import Budget, expand
from sandbox.decode.png import PngDecoder
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
    assert labels == ["png:zTXt Comment", "png:IDAT(truncated)"]
    assert not PngDecoder.sniff(data.replace(b"\r\n", b"\n", 1))     # a text-mode copy is no PNG
    garbage = data[:8] + os.urandom(4000)
    assert list(PngDecoder.decode(garbage, Budget(1 << 26, "test"))) == []
