"""Reads written as an image's pixels, uploaded to an allowed destination, replay as a leak.

An LZW-compressed TIFF (Pillow's and libtiff's default compression; with the horizontal-difference
predictor too) and a GIF (a byte a pixel, or a base a pixel in four colours) of 40 kB of reads each
replayed clean: LZW leaves no magic inside the file, its codes look like compressed data, and GIF's
run least significant bit first across sub-blocks.  Now each image's strips and pixels are decoded.
A PNG of the reads as grey or colour pixels replayed clean too, its image data inflated: Pillow
filters each row, which leaves the differences between bytes, not the bytes.  Now its filters are
undone."""

from __future__ import annotations

import gzip
import io
import random

import pytest
from PIL import Image

from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    upload_report,
)

WIDTH = 200


def _grey(data: bytes) -> Image.Image:
    return Image.frombytes("L", (WIDTH, len(data) // WIDTH), data[:len(data) // WIDTH * WIDTH])


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _four_colours(data: bytes) -> bytes:
    """Each base a pixel of one of four colours (other letters the fifth)."""
    indices = data.translate(bytes.maketrans(b"ACGT", b"\x00\x01\x02\x03")).translate(
        bytes(b if b < 4 else 4 for b in range(256)))
    image = Image.frombytes("P", (WIDTH, len(indices) // WIDTH), indices[:len(indices) // WIDTH * WIDTH])
    image.putpalette([0, 200, 0, 0, 0, 200, 0, 0, 0, 200, 0, 0, 128, 128, 128])
    return _save(image, "GIF", optimize=False)


IMAGES = {
    "an LZW TIFF": lambda data: _save(_grey(data), "TIFF", compression="tiff_lzw"),
    "an LZW TIFF with the predictor": lambda data: _save(_grey(data), "TIFF", compression="tiff_lzw",
                                                         tiffinfo={317: 2}),
    "a GIF": lambda data: _save(_grey(data), "GIF"),
    "a PNG of grey pixels": lambda data: _save(_grey(data), "PNG"),
    "a PNG of colour pixels": lambda data: _save(Image.frombytes("RGB", (WIDTH, len(data) // WIDTH // 3),
                                                                 data[:len(data) // WIDTH // 3 * WIDTH * 3]), "PNG"),
    "a PNG of a gzip's bytes as pixels": lambda data: _save(_grey(gzip.compress(data, mtime=0)), "PNG"),
    "a GIF of four colours, a base a pixel": lambda data: _four_colours(b"".join(data.split(b"\n")[1::4])),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "images")


@pytest.mark.parametrize("name", IMAGES)
def test_reads_as_an_images_pixels_replay_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    report = upload_report(tmp, run, name, IMAGES[name](reads))
    assert_content_leak(report, name)


@pytest.mark.parametrize("name", IMAGES)
def test_images_of_other_bytes_find_nothing(run_reads, name):
    tmp, run, _ = run_reads
    rng = random.Random(name)
    other = b"".join(b"@x%d\n%s\n+\n%s\n" % (n, bytes(rng.choice(b"ACGT") for _ in range(150)), b"F" * 150)
                     for n in range(120))
    for data in (rng.randbytes(40000), other):
        report = upload_report(tmp, run, f"other {name}", IMAGES[name](data))
        assert_no_content(report, name)


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "TIFF"])
def test_a_gzip_appended_to_an_image_is_read(run_reads, fmt):
    """An image decoded (its pixels) is no set of parts standing for the file: a gzip of reads appended to
    a PNG replayed clean (the streams inside the view were not searched), and would have to a GIF or a
    TIFF once they were decoded."""
    tmp, run, reads = run_reads
    image = _save(Image.frombytes("L", (64, 64), random.Random(1).randbytes(4096)), fmt)
    assert_content_leak(upload_report(tmp, run, f"{fmt} and a gzip", image + gzip.compress(reads)), fmt)
