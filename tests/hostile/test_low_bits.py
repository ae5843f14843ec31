"""Reads hidden in the low bits of an image's pixels or a sound's samples, uploaded to an allowed
destination, replay as a leak.

A screenshot in a support bundle whose pixels' lowest bit (or two) carry a gzip of 40 kB of reads, or
the reads themselves, replayed clean: as a PNG, a BMP, an LZW TIFF, a WAV or the raw pixels, in one
bit of every byte, two, one of each colour but not the alpha channel, one of each 16-bit sample, the
bits of each byte highest or lowest first.  The pixels were read (a PNG's inflated, a TIFF's
decompressed) and the reads were in none of their bytes.  Now a view's low bits are read out
(``sandbox.decode.lowbits``), and a BMP's rows put back from the top (``sandbox.decode.bmp``)."""

from __future__ import annotations

import gzip
import io
import wave

import numpy as np
import pytest
from PIL import Image

from tests.decode.test_lowbits import hide
from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    upload_report,
)

WIDTH = 640


def _photo(size: int, seed: int = 0) -> np.ndarray:
    """A photograph's bytes (``size`` of them at least, whole rows of WIDTH RGB pixels): smooth, with noise."""
    rows = -(-size // (WIDTH * 3)) + 2
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:WIDTH]
    base = 128 + 60 * np.sin(x / 90)[..., None] + 50 * np.cos(y / 70)[..., None] * np.array([1, 0.6, 0.3])
    return np.clip(base + rng.normal(0, 4, (rows, WIDTH, 3)), 0, 255).astype(np.uint8).ravel()


def _image(pixels: bytes, fmt: str, mode: str = "RGB", **options) -> bytes:
    channels = len(mode)
    out = io.BytesIO()
    Image.frombytes(mode, (WIDTH, len(pixels) // (WIDTH * channels)), pixels).save(out, format=fmt, **options)
    return out.getvalue()


def _rgba(pixels: bytes) -> bytes:
    """The photo's pixels with an opaque alpha channel after each: four bytes a pixel."""
    rgb = np.frombuffer(pixels, np.uint8).reshape(-1, 3)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1).tobytes()


def _wav(samples: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(samples)
    return out.getvalue()


def _sound(size: int) -> np.ndarray:
    """A recording's bytes: a tone with noise, 16-bit little-endian samples."""
    t = np.arange(size // 2)
    wave_ = 8000 * np.sin(t / 20) + np.random.default_rng(1).normal(0, 200, len(t))
    return wave_.astype("<i2").view(np.uint8)


def _hidden_in(message: bytes, bits: int = 1, lsb_first: bool = False) -> bytes:
    return hide(message, _photo(len(message) * 8 // bits + 64), bits, 0, lsb_first)


WAYS = {
    "a PNG, a bit a byte": lambda m: _image(_hidden_in(m), "PNG"),
    "a PNG, two bits a byte": lambda m: _image(_hidden_in(m, 2), "PNG"),
    "a PNG, a bit a byte lowest first": lambda m: _image(_hidden_in(m, 1, True), "PNG"),
    "a PNG with alpha, a bit of each colour": lambda m: _image(hide(m, np.frombuffer(_rgba(_photo(
        len(m) * 8 * 4 // 3 // 4 * 3 + 64).tobytes()), np.uint8), 1, 1, False), "PNG", "RGBA"),
    "a BMP, a bit a byte": lambda m: _image(_hidden_in(m), "BMP"),
    "an LZW TIFF, a bit a byte": lambda m: _image(_hidden_in(m), "TIFF", compression="tiff_lzw"),
    "raw pixels, a bit a byte": _hidden_in,
    "a WAV, a bit a sample": lambda m: _wav(hide(m, _sound(len(m) * 16 + 64), 1, 2, False)),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "low-bits")


@pytest.mark.parametrize("name", WAYS)
@pytest.mark.parametrize("what", ["gzip", "reads"])
def test_reads_in_low_bits_replay_as_a_leak(run_reads, name, what):
    tmp, run, reads = run_reads
    message = gzip.compress(reads, mtime=0) if what == "gzip" else reads
    assert_content_leak(upload_report(tmp, run, f"{what} in {name}", WAYS[name](message)), name)


@pytest.mark.parametrize("name", WAYS)
def test_low_bits_of_other_bytes_find_nothing(run_reads, name):
    """Another genome's reads hidden so (gzipped or not), and the same cover with its low bits cleared."""
    tmp, run, _ = run_reads
    other = unrelated_reads(name)
    for label, message in (("other reads", gzip.compress(other, mtime=0)), ("other text", other),
                           ("cleared bits", bytes(len(other) // 4))):
        report = upload_report(tmp, run, f"{label} in {name}", WAYS[name](message))
        assert_no_content(report, (name, label))
