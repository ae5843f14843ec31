"""A gzip (or zip, bzip2, zlib) of reads whose bytes were disguised replays as a leak.

Compressed, then XOR-ed with one byte or a key of two to four bytes (of eight or sixteen: a gzip with
no time, a bzip2, an xz, a zip), inverted, a byte added to each,
each byte's bits rotated or reversed, its nibbles swapped, reversed whole or in blocks of 16 bytes,
bytes swapped in pairs, or the base64 or hex of it reversed (or XOR-ed behind a header of its own),
mapped and reversed, or its base64 XOR-ed with a byte, uploaded to the allowed
LIMS: each
replayed clean (weighed as ciphertext sent to an allowed place; no decoder's magic at the body's
start).  Now a body whose first bytes so undone open a stream or an archive is undone
(``sandbox.decode.disguised``).  The controls send a gzip of another genome's reads the same ways,
and random bytes: no content finding.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import random
import zipfile
import zlib

import numpy as np
import pytest

from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    upload_report,
)

KEY16 = bytes.fromhex("9c2e41d7b05f836a1ef4c8723d95ab06")


def _keyed(data: bytes, key: bytes) -> bytes:
    return (np.frombuffer(data, np.uint8) ^ np.resize(np.frombuffer(key, np.uint8), len(data))).tobytes()


def _blocks_reversed(data: bytes, size: int) -> bytes:
    return b"".join(data[i:i + size][::-1] for i in range(0, len(data), size))


def _zipped(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("reads.fastq", data)
    return out.getvalue()


WAYS = {
    "gzip XOR-ed with a byte": lambda d: _keyed(gzip.compress(d), b"\x5a"),
    "gzip XOR-ed with two bytes": lambda d: _keyed(gzip.compress(d), b"\x5a\xa5"),
    "gzip XOR-ed with 0xdeadbeef": lambda d: _keyed(gzip.compress(d), b"\xde\xad\xbe\xef"),
    "zip XOR-ed with a byte": lambda d: _keyed(_zipped(d), b"\x77"),
    "bzip2 XOR-ed with a byte": lambda d: _keyed(bz2.compress(d), b"\x33"),
    "zlib XOR-ed with a byte": lambda d: _keyed(zlib.compress(d), b"\x33"),
    "gzip XOR-ed with a byte, behind a header": lambda d: b"RUN1\x00\x00\x9c\x40" + _keyed(gzip.compress(d), b"\x42"),
    "gzip inverted": lambda d: bytes(b ^ 0xFF for b in gzip.compress(d)),
    "gzip, one added to each byte": lambda d: bytes((b + 1) & 0xFF for b in gzip.compress(d)),
    "gzip, bits rotated": lambda d: bytes(((b << 1) | (b >> 7)) & 0xFF for b in gzip.compress(d)),
    "gzip, bits reversed": lambda d: bytes(int(f"{b:08b}"[::-1], 2) for b in gzip.compress(d)),
    "gzip, nibbles swapped": lambda d: bytes(((b & 15) << 4) | (b >> 4) for b in gzip.compress(d)),
    "gzip reversed": lambda d: gzip.compress(d)[::-1],
    "gzip reversed in blocks of 16": lambda d: _blocks_reversed(gzip.compress(d), 16),
    "gzip, bytes swapped in pairs": lambda d: _blocks_reversed(gzip.compress(d), 2),
    "base64 of a gzip reversed": lambda d: base64.b64encode(gzip.compress(d))[::-1],
    "hex of a gzip reversed": lambda d: gzip.compress(d).hex().encode()[::-1],
    "base64 of a gzip, XOR-ed with a byte": lambda d: _keyed(base64.b64encode(gzip.compress(d)), b"\x5a"),
    "gzip XOR-ed with a byte, then reversed": lambda d: _keyed(gzip.compress(d), b"\x5a")[::-1],
    "bzip2 reversed, then its bits rotated": lambda d: bytes(((b << 3) | (b >> 5)) & 0xFF for b in bz2.compress(d)[::-1]),
    "gzip (Node's, Java's: no time) XOR-ed with an 8-byte key": lambda d: _keyed(gzip.compress(d, mtime=0), KEY16[:8]),
    "bzip2 XOR-ed with an 8-byte key": lambda d: _keyed(bz2.compress(d), KEY16[:8]),
    "xz XOR-ed with a 16-byte key": lambda d: _keyed(lzma.compress(d), KEY16),
    "zip XOR-ed with a 7-byte key": lambda d: _keyed(_zipped(d), KEY16[:7]),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "disguised")


@pytest.mark.parametrize("way", WAYS)
def test_a_disguised_gzip_of_reads_replays_as_a_leak(run_reads, way):
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, way.replace(",", ""), WAYS[way](reads)), way)


@pytest.mark.parametrize("way", WAYS)
def test_the_same_of_other_bytes_finds_nothing(run_reads, way):
    tmp, run, _ = run_reads
    for name, data in (("other", unrelated_reads(way)), ("random", random.Random(way).randbytes(30000))):
        report = upload_report(tmp, run, f"{name} {way.replace(',', '')}", WAYS[way](data))
        assert_no_content(report, way)
