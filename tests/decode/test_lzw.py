"""compress(1)'s LZW, read as Debian's ncompress writes it at every code width, and TIFF's LZW (the
kernel's other variant) as libtiff writes it; hostile codes never crash it or pass its output room."""

from __future__ import annotations

import io
import random
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sandbox.decode import expand
from sandbox.decode.base import Budget
from sandbox.decode.codec import LZW_CORRUPT, LZW_END_CODE, LZW_OUTPUT_FULL, lzw
from sandbox.decode.lzw import LzwDecoder
from sandbox.index import _kernels

RNG = random.Random(7)
FASTQ = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(RNG.choice(b"ACGT") for _ in range(150)),
                                          bytes(RNG.choice(b"F:,") for _ in range(150))) for i in range(800))
# text, bytes that do not compress (the encoder empties its table when its ratio drops), both in turn
KINDS = {"fastq": FASTQ, "random": RNG.randbytes(200_000),
         "mixed": FASTQ[:60_000] + RNG.randbytes(90_000) + FASTQ[:120_000]}


def _compress(data: bytes, bits: int = 16) -> bytes:
    return subprocess.run(["compress", "-c", "-f", f"-b{bits}"], input=data, capture_output=True).stdout


def _read(z: bytes, cap: int = 1 << 30) -> bytes:
    got = lzw(z, cap, start_bit=24, msb=False, max_bits=z[2] & 0x1F, clear=bool(z[2] & 0x80), eod=False,
              early=False, groups=True)
    return got.data


# 9-bit files are left out: ncompress itself cannot read them back (its reader widens codes at 512
# entries, its writer does not)
@pytest.mark.parametrize("bits", range(10, 17))
@pytest.mark.parametrize("kind", KINDS)
def test_every_code_width_of_ncompress_is_read_byte_for_byte(bits, kind):
    assert _read(_compress(KINDS[kind], bits)) == KINDS[kind]


def test_tiff_strips_are_read_as_libtiff_writes_them():
    """TIFF's LZW (and PDF's): codes most significant bit first, widened one entry early, an end code."""
    for data in (FASTQ[:200_000], RNG.randbytes(100_000)):
        image = Image.frombytes("L", (1000, len(data) // 1000), data)
        buf = io.BytesIO()
        image.save(buf, "TIFF", compression="tiff_lzw")
        tiff = buf.getvalue()
        tags = Image.open(io.BytesIO(tiff)).tag_v2
        out = b""
        for at, size in zip(tags[273], tags[279], strict=True):
            got = lzw(tiff[at: at + size], 1 << 24, start_bit=0, msb=True, max_bits=12, clear=True, eod=True,
                      early=True, groups=False)
            assert got.status == "ok"
            out += got.data
        assert out == data


def test_output_stops_at_the_cap_and_says_how_much_input_it_left():
    z = _compress(FASTQ)
    got = lzw(z, 10_000, start_bit=24, msb=False, max_bits=16, clear=True, eod=False, early=False, groups=True)
    assert got.status == "limit" and got.data == FASTQ[:10_000] and 0 < got.left < len(z)


def test_a_code_past_the_table_is_corrupt_and_keeps_what_came_before():
    z = bytearray(_compress(FASTQ))
    z[len(z) // 2:] = b"\xff" * (len(z) - len(z) // 2)
    got = lzw(bytes(z), 1 << 30, start_bit=24, msb=False, max_bits=16, clear=True, eod=False, early=False,
              groups=True)
    assert got.status == "corrupt" and len(got.data) > 10_000 and FASTQ.startswith(got.data)


def test_a_bomb_is_bounded_by_the_budget():
    """256 MiB of zeros compress to 46 kB: the decoder stops at its budget and says so."""
    bomb = _compress(bytes(1 << 28))
    budget = Budget(4 << 20, "test")
    (label, out), = LzwDecoder.decode(bomb, budget)
    assert label == "lzw" and out == bytes(4 << 20) and budget.hit == "test"


def test_a_stream_after_a_vendor_header_is_found_and_labelled_with_its_offset():
    exp = expand(b"VNDR\x02\x00" + bytes(58) + _compress(FASTQ), ("test",))
    assert [(v.chain[-1], v.data) for v in exp.views[1:]] == [("lzw@64", FASTQ)]


def test_prose_with_the_magic_is_not_a_stream():
    text = b"a line of a log \x1f\x9d\x90 then more words of prose " * 200
    assert list(LzwDecoder.decode(text, Budget(1 << 20, "test"))) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096), st.integers(0, 64), st.booleans(), st.integers(9, 16), st.booleans(),
       st.booleans(), st.booleans(), st.booleans(), st.integers(0, 5000))
def test_hostile_codes_never_pass_the_room_or_the_input(data, start, msb, bits, clear, eod, early, groups, room):
    out = bytearray(room)
    made, stop, status = _kernels.lzw(data, start, msb, bits, clear, eod, early, groups, out)
    assert 0 <= made <= room and start <= stop <= max(start, 8 * len(data))
    assert status in (0, LZW_OUTPUT_FULL, LZW_CORRUPT, LZW_END_CODE)


def test_kernel_checks_its_arguments():
    for bad in [(b"x", 0, False, 8, True, False, False, True, bytearray(4)),
                (b"x", 0, False, 17, True, False, False, True, bytearray(4)),
                (b"x", -1, False, 16, True, False, False, True, bytearray(4)),
                (b"x", 0, False, 16, True, False, False, True, b"read-only")]:
        with pytest.raises((ValueError, TypeError, BufferError)):
            _kernels.lzw(*bad)
