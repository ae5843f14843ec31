"""Content no decoder opened: random bytes count, what decoders account for does not, and a bomb
beside ciphertext cannot explain it away."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import random
import zipfile

import numpy as np
import pytest

from sandbox.decode import expand
from sandbox.decode.unopened import BLOCK, VECTOR_FROM, WINDOW, ciphertext_bytes, unopened_bytes

CHAIN = ("tcp",)
SECRET = os.urandom(1 << 20)       # a run sealed with a key the rig does not have
READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(random.Random(i).choices(b"ACGT", k=150)), b"F" * 150)
                 for i in range(4000))


def unopened(data: bytes) -> int:
    exp = expand(data, CHAIN)
    return unopened_bytes([v.data for v in exp.views], exp.explained)


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("size", [WINDOW, 5000, BLOCK, 3 * BLOCK + 17, VECTOR_FROM * BLOCK + 1000, 4 << 20])
def test_random_bytes_count_whole_and_text_not_at_all(size):
    """The window-by-window path (short views) and the numpy one agree, to the byte."""
    assert ciphertext_bytes(os.urandom(size)) == size
    assert ciphertext_bytes(READS[:size]) == 0
    assert ciphertext_bytes(base64.b64encode(os.urandom(size))[:size]) == 0
    assert ciphertext_bytes(os.urandom(WINDOW - 1)) == 0         # too short to tell: tokens, hashes, nonces


def test_blocks_count_by_what_they_hold():
    text = READS[: 4 * BLOCK]
    mixed = text[:BLOCK] + os.urandom(2 * BLOCK) + text[BLOCK:2 * BLOCK]
    assert ciphertext_bytes(mixed) == 2 * BLOCK
    rng = np.random.default_rng(1)
    assert ciphertext_bytes(rng.normal(20, 3, 1 << 18).astype(np.float32).tobytes()) < (1 << 20) // 10
    assert ciphertext_bytes(rng.integers(0, 1 << 12, 1 << 19).astype(np.uint16).tobytes()) == 0


def test_what_decoders_open_is_explained():
    assert unopened(SECRET) == len(SECRET)
    assert unopened(READS) == 0
    assert unopened(gzip.compress(READS)) == 0                        # compressed reads: opened, read
    assert unopened(_zip({"reads.fastq": READS, "log.txt": b"ok\n" * 100})) < BLOCK   # its headers, to a block
    assert unopened(json.dumps({"blob": base64.b64encode(SECRET).decode()}).encode()) == len(SECRET)
    assert unopened(gzip.compress(SECRET)) == pytest.approx(len(SECRET), rel=0.01)   # opened: ciphertext inside


def test_ciphertext_inside_containers_still_counts():
    """An encrypted member, random bytes after a decoded part, a stored member of ciphertext."""
    assert unopened(_zip({"reads.fastq": READS, "bundle.enc": SECRET}, zipfile.ZIP_STORED)) >= len(SECRET)
    assert unopened(gzip.compress(READS) + SECRET) >= len(SECRET) - 2 * BLOCK     # its seam, to a block


def test_a_bomb_beside_ciphertext_explains_only_its_own_bytes():
    """A gzip of zeros decompresses to more than the ciphertext after it: its output is no account
    of the ciphertext, only of the few compressed bytes it came from."""
    bomb = gzip.compress(bytes(4 << 20))
    assert len(bomb) < 8 * 1024
    for data in (bomb + SECRET, SECRET + bomb):
        exp = expand(data, CHAIN)
        assert sum(len(v.data) for v in exp.views[1:]) > len(SECRET)
        # the blocks near their seam (the last takes the remainder) may go either way
        assert unopened_bytes([v.data for v in exp.views], exp.explained) >= len(SECRET) - 2 * BLOCK


def test_where_windows_fall_is_not_the_instruments_to_know():
    """Text at any fixed place in each block does not hide the ciphertext around it: each block is
    probed at an offset drawn from a per-process seed, so a fixed pattern is caught in most blocks."""
    data = bytearray(os.urandom(256 * BLOCK))
    for at in range(0, len(data), BLOCK):
        data[at:at + 2 * WINDOW] = READS[:2 * WINDOW]
    assert ciphertext_bytes(bytes(data)) > 0.8 * len(data)
