"""GIF: each image's pixels whatever its code size, interlaced or not; comments joined; a code out of
the table ends an image quietly."""

from __future__ import annotations

import io
import random

from PIL import Image

from sandbox.decode.base import Budget
from sandbox.decode.gif import GifDecoder

RNG = random.Random(5)


def _gif(indices: bytes, colours: int, width: int = 100, **options) -> bytes:
    image = Image.frombytes("P", (width, len(indices) // width), indices)
    image.putpalette([v for n in range(colours) for v in (n, n, n)])
    out = io.BytesIO()
    image.save(out, format="GIF", optimize=False, **options)
    return out.getvalue()


def _decode(data: bytes) -> dict[str, bytes]:
    assert GifDecoder.sniff(data)
    return dict(GifDecoder.decode(data, Budget(1 << 24, "test")))


def test_every_code_size_interlaced_or_not_gives_the_pixels():
    for colours in (2, 4, 16, 256):
        indices = bytes(RNG.randrange(colours) for _ in range(100 * 60))
        for interlace in (False, True):
            assert _decode(_gif(indices, colours, interlace=interlace)) == {"gif:image 0": indices}, colours


def test_comments_are_joined_and_a_broken_code_ends_the_image():
    indices = bytes(RNG.randrange(256) for _ in range(100 * 20))
    data = _gif(indices, 256, interlace=False, comment=b"run 251123_M07011_0042 sample NA12878 " * 10)
    assert _decode(data)["gif:comment"] == b"run 251123_M07011_0042 sample NA12878 " * 10
    four = bytes(RNG.randrange(4) for _ in range(100 * 20))
    broken = bytearray(_gif(four, 4, interlace=False))
    broken[-30:-2] = b"\xff" * 28                  # codes past the table
    got = _decode(bytes(broken)).get("gif:image 0", b"")
    assert four.startswith(got) and len(got) < len(four)
