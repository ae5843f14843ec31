"""Repeating-key XOR undone: every key length from 2 to 64 bytes over the text a run holds, exactly, and
longer keys up to 4,096; nothing made of text, random or structured binary bytes that no key touched."""

from __future__ import annotations

import gzip
import json
import os
import random
import struct
import zlib

import numpy as np
import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.xor import (
    LONG_MIN_VIEW,
    MAX_KEY,
    MAX_LONG_KEY,
    MIN_PER_POSITION,
    MIN_VIEW,
    XorDecoder,
    key_lengths,
    xor_correlation,
)

CHAIN = ("tcp", "test")


def keyed(data: bytes, key: bytes) -> bytes:
    return (np.frombuffer(data, np.uint8) ^ np.resize(np.frombuffer(key, np.uint8), len(data))).tobytes()


def fastq(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return "".join(f"@A00123:8:HJKL2DSXY:1:{1101 + i}:{rng.randrange(30000)}:1000 1:N:0:ACGTACGT\n"
                   f"{''.join(rng.choice('ACGT') for _ in range(151))}\n+\n"
                   f"{''.join(rng.choice('F:,') for _ in range(151))}\n" for i in range(n)).encode()


def sam(n: int, seed: int = 2) -> bytes:
    rng = random.Random(seed)
    return "".join(f"read{i}\t99\tchr{rng.randrange(1, 23)}\t{rng.randrange(10**8)}\t60\t100M\t=\t{rng.randrange(10**8)}"
                   f"\t300\t{''.join(rng.choice('ACGT') for _ in range(100))}\t{'I' * 100}\tRG:Z:S1\n"
                   for i in range(n)).encode()


def vcf(n: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    return b"##fileformat=VCFv4.2\n" + "".join(
        f"chr1\t{rng.randrange(10**8)}\trs{rng.randrange(10**7)}\t{rng.choice('ACGT')}\t{rng.choice('ACGT')}"
        f"\t{rng.randrange(20, 99)}\tPASS\tDP={rng.randrange(10, 90)}\tGT:AD\t0/1:{rng.randrange(9)},{rng.randrange(9)}\n"
        for _ in range(n)).encode()


TEXTS = {"fastq": fastq(200), "sam": sam(200), "vcf": vcf(400)}


def undone(data: bytes) -> tuple[str, bytes] | None:
    """What the decoder makes of ``data``: (label, bytes), or None."""
    if not XorDecoder.sniff(data):
        return None
    out = list(XorDecoder.decode(data, Budget(1 << 30, "test")))
    assert len(out) <= 1
    return out[0] if out else None


@pytest.mark.parametrize("kind", TEXTS)
@pytest.mark.parametrize("length", [2, 3, 5, 8, 13, 16, 31, 32, 47, 64])
def test_every_key_length_is_undone_exactly(kind, length):
    text = TEXTS[kind]
    key = random.Random(length).randbytes(length)
    assert undone(keyed(text, key)) == (f"xor ({length}-byte key)", text)


@pytest.mark.parametrize("kind", TEXTS)
def test_keys_that_leave_text_printable_are_undone(kind):
    """Key bytes under 0x20 keep letters letters ("A" XOR 2 is "C"): the text stays printable, the
    bases are shuffled at each position."""
    rng = random.Random(kind)
    for length in (2, 4, 9, 16, 33):
        key = bytes(rng.randrange(1, 32) for _ in range(length))
        assert undone(keyed(TEXTS[kind], key)) == (f"xor ({length}-byte key)", TEXTS[kind])


def test_random_keys_over_views_of_every_size_are_undone():
    rng = random.Random(9)
    for kind, text in TEXTS.items():
        for _ in range(60):
            length = rng.randrange(2, MAX_KEY + 1)
            size = rng.randrange(max(MIN_VIEW, 64 * length), len(text))
            start = rng.randrange(len(text) - size)        # the key's phase is where the view starts
            data = keyed(text[start:start + size], rng.randbytes(length))
            assert undone(data) == (f"xor ({length}-byte key)", text[start:start + size]), (kind, length, size)


LONG_TEXTS = {"fastq": fastq(1000), "sam": sam(1500), "vcf": vcf(3000)}


@pytest.mark.parametrize("kind", LONG_TEXTS)
@pytest.mark.parametrize("length", [65, 100, 127, 300, 1000, 2048, MAX_LONG_KEY])
def test_long_keys_are_undone_exactly(kind, length):
    text = LONG_TEXTS[kind]
    if len(text) < MIN_PER_POSITION * length:
        text = text * (MIN_PER_POSITION * length // len(text) + 1)
    key = random.Random(length).randbytes(length)
    assert undone(keyed(text, key)) == (f"xor ({length}-byte key)", text)


def test_random_long_keys_over_views_of_every_size_are_undone_or_left():
    """Views from LONG_MIN_VIEW bytes up: undone where the view holds MIN_PER_POSITION bytes a key
    position (a key longer than a 32nd of the view is left), never made anything else of."""
    rng = random.Random(10)
    text = LONG_TEXTS["fastq"]
    undone_count = 0
    for _ in range(40):
        length = rng.randrange(MAX_KEY + 1, 2000)
        size = rng.randrange(LONG_MIN_VIEW, len(text))
        start = rng.randrange(len(text) - size)
        got = undone(keyed(text[start:start + size], rng.randbytes(length)))
        assert got in (None, (f"xor ({length}-byte key)", text[start:start + size])), (length, size)
        assert got is not None or size < MIN_PER_POSITION * length
        undone_count += got is not None
    assert undone_count >= 10


def test_the_view_s_other_decoders_reach_the_text():
    """Through the registry: the keyed view's text is a view of its own, and what is inside it is read."""
    text = gzip.compress(TEXTS["sam"])
    carrier = keyed(json.dumps({"reads": TEXTS["fastq"][:8000].decode()}).encode(), b"\x13\x37\xc0\xde")
    views = expand(carrier, CHAIN).views
    assert [v.chain[-1] for v in views if v.chain[-1].startswith("xor")] == ["xor (4-byte key)"]
    assert any(v.chain[-2:] == ("xor (4-byte key)", "json:$.reads") for v in views)
    assert not any(v.chain[-1].startswith("xor") for v in expand(text, CHAIN).views)


def test_reads_after_a_header_in_the_clear_are_undone():
    """A binary header before the keyed text: the header comes out garbled, the reads whole."""
    text = TEXTS["fastq"][:20000]
    data = b"RUNUPLOAD\x00\x01" + os.urandom(20) + keyed(text, bytes(range(7, 7 + 11)))
    label, out = undone(data)
    assert label == "xor (11-byte key)" and text in out


def test_a_single_byte_key_is_left_to_the_recoded_reading():
    """One byte of key is four other symbols for the bases, which the correlator reads as they are."""
    assert key_lengths(keyed(TEXTS["fastq"], b"\x5a")) == []


BENIGN = {
    "text": TEXTS["fastq"],
    "prose": b"The sequencer uploads its run metrics to the vendor portal every night; the bench rig "
             b"checks that nothing else leaves.\n" * 60,
    "random": os.urandom(1 << 16),
    "gzip": gzip.compress(TEXTS["sam"]),
    "zlib": zlib.compress(os.urandom(100) * 200),
    "rgb pixels": bytes(v for i in range(5000) for v in ((i * 3) % 256, (i // 20) % 256, 200)),
    "int32 counters": b"".join(struct.pack("<I", i * 7) for i in range(5000)),
    "float32 samples": b"".join(struct.pack("<f", i * 0.01) for i in range(5000)),
    "int16 audio": b"".join(struct.pack("<h", int(8000 * np.sin(i / 10))) for i in range(20000)),
    "fixed-width csv": b"".join(b"%08d,%8.3f,ACGTACGT\n" % (i, i * 0.5) for i in range(2000)),
    "random, a block repeated": os.urandom(300) * 200,
    "random records behind one header": b"".join(b"REC\x01" + os.urandom(196) for _ in range(400)),
    "float64 noise": np.random.default_rng(4).normal(size=20000).tobytes(),
    "deflate of reads": zlib.compress(TEXTS["fastq"])[2:],
}


@pytest.mark.parametrize("name", BENIGN)
def test_bytes_no_key_touched_give_no_view(name):
    data = BENIGN[name]
    assert undone(data) is None
    assert not any(v.chain[-1].startswith("xor") for v in expand(data, CHAIN).views)


def test_utf16_text_is_left_to_its_own_reading():
    """UTF-16's zeros agree with themselves two bytes on, as a 2-byte key's position would: a position
    holding one value is no text a key hid (the correlator reads UTF-16 letters as they are)."""
    data = ("Sample sheets and FASTQ files stay on the lab network. " * 40).encode("utf-16-le")
    assert key_lengths(data)[0] == 2 and undone(data) is None


def test_short_views_are_not_looked_at():
    data = keyed(TEXTS["fastq"][:MIN_VIEW - 1], b"\x81\x02\xe3\x44")
    assert key_lengths(data) == [] and key_lengths(keyed(TEXTS["fastq"][:MIN_VIEW], b"\x81\x02\xe3\x44"))


def test_xor_correlation_is_the_sum_it_stands_for():
    rng = np.random.default_rng(5)
    ref, rows = rng.integers(0, 50, 256).astype(float), rng.integers(0, 50, (3, 256)).astype(float)
    want = np.array([[sum(ref[x] * row[x ^ d] for x in range(256)) for d in range(256)] for row in rows])
    assert np.allclose(xor_correlation(ref, rows), 256 * want)
