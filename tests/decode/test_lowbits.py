"""Data in the low bits of pixels and samples: each way a tool hides it is read, and covers that hide
nothing (noise, photographs, flat screenshots, text) give nothing."""

from __future__ import annotations

import gzip
import random

import numpy as np
import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.lowbits import MIN_VIEW, WAYS, LowBitsDecoder, hidden
from tests.decode.test_png import _plot

CHAIN = ("tcp", "test")
READS = b"".join(b"@r%d 1:N:0:ACGT\n%s\n+\n%s\n" % (n, bytes(random.Random(n).choice(b"ACGT") for _ in range(100)),
                                                   b"F" * 100) for n in range(60))


def hide(message: bytes, cover: np.ndarray, bits: int, pattern: int, lsb_first: bool, offset: int = 0) -> bytes:
    """``message`` in the low ``bits`` of the cover's bytes a ``pattern`` takes (``lowbits.WAYS``), from
    byte ``offset`` of the cover on (a header of its own before), its bytes' bits lowest first or not."""
    stream = np.unpackbits(np.frombuffer(message, np.uint8), bitorder="little" if lsb_first else "big")
    if bits == 2:
        stream = stream[:len(stream) // 2 * 2].reshape(-1, 2) @ np.array([2, 1], np.uint8)
    index = np.arange(offset, len(cover))
    taken = index[[np.ones(len(index), bool), index % 4 != 3, index % 2 == 0][pattern]][:len(stream)]
    assert len(taken) == len(stream), "cover too small"
    out = cover.copy()
    out[taken] = out[taken] & (0xFF ^ ((1 << bits) - 1)) | stream
    return out.tobytes()


def _cover(size: int, seed: int = 0) -> np.ndarray:
    """A photograph's bytes: a smooth surface with sensor noise."""
    rng = np.random.default_rng(seed)
    x = np.arange(size)
    return np.clip(128 + 90 * np.sin(x / 700) + rng.normal(0, 3, size), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("bits, pattern", WAYS)
@pytest.mark.parametrize("lsb_first", [False, True])
@pytest.mark.parametrize("offset", [0, 7, 54])
def test_every_way_is_read(bits, pattern, lsb_first, offset):
    for message in (READS, gzip.compress(READS, mtime=0)):
        data = hide(message, _cover(len(message) * 8 * 2 // bits + 200), bits, pattern, lsb_first, offset)
        found = hidden(data)
        assert found is not None and found[:2] == (bits, pattern) and found[3] == lsb_first, found
        views = [v.data for v in expand(data, CHAIN).views]
        assert any(READS in v for v in views), [v.chain for v in expand(data, CHAIN).views]


def test_the_view_is_every_low_bit_so_taken():
    data = hide(READS, _cover(len(READS) * 8), 1, 0, False)
    ((label, view),) = LowBitsDecoder.decode(data, Budget(1 << 26, "test"))
    assert label == "low bits (1 a byte)" and view == READS
    ((label, view),) = LowBitsDecoder.decode(hide(READS, _cover(len(READS) * 8 * 3), 2, 2, True, 3),
                                             Budget(1 << 26, "test"))
    assert label == "low bits (2 a byte, every second byte, lowest first)" and READS in view
    assert list(LowBitsDecoder.decode(data, Budget(len(data) // 16, "test"))) == []    # over the budget: said


def test_covers_that_hide_nothing_give_nothing():
    rng = random.Random(4)
    for n in range(3000):
        assert hidden(rng.randbytes(rng.choice((MIN_VIEW, 4096, 65536)))) is None, n
    for seed in range(50):
        assert hidden(_cover(65536, seed).tobytes()) is None, seed
    assert hidden(_plot().tobytes()) is None
    flat = [bytes(4096), b"\xff" * 4096, b"\x00\x00\xff\xff" * 1024, b"\x20\x40\x60" * 1400, bytes(range(256)) * 16]
    assert [hidden(f) for f in flat] == [None] * len(flat)
    prose = b"The sequencer uploads its run metrics to the vendor portal every night.\n" * 60
    assert hidden(prose) is None and hidden(READS) is None
    emoji = "".join(random.Random(5).choice("\U0001F600\U0001F601\U0001F602\U0001F603") for _ in range(2000))
    assert hidden(emoji.encode()) is None       # a base a character: ``characters`` reads it
    assert hidden(hide(READS[:200], _cover(1600), 1, 0, False)) is None         # fewer bytes than a view needs
