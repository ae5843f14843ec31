"""A compressed stream of reads with its magic or header cut off, or written raw, uploaded to an
allowed destination, replays as a leak.

40 kB of reads as xz without its stream header, LZMA2 or LZMA without a container (or LZMA-alone with
its 13 header bytes cut), bzip2 without "BZh9" or without its block's magic too, zstd without its magic
or written magicless, or an LZ4 frame without its magic, replayed clean: each looked random (weighed as
ciphertext sent to an allowed place) and no decoder's magic began it.  Now each is read with its
header put back (``sandbox.decode.headerless``), also past a header of the sender's own (8 to 16 bytes:
the strong checks up to 64 bytes in)."""

from __future__ import annotations

import bz2
import lzma
import random
import struct

import brotli
import cramjam
import lz4.block
import lz4.frame
import pytest
import zstandard

from tests.decode.test_headerless import WAYS
from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    upload_report,
)

CUT = {
    "xz without its stream header": lambda d: lzma.compress(d)[12:],
    "LZMA2 without a container": WAYS["LZMA2 without a container"],
    "LZMA without a container": WAYS["LZMA without a container"],
    "LZMA-alone without its header": WAYS["LZMA-alone's header cut"],
    "bzip2 without BZh9": lambda d: bz2.compress(d)[4:],
    "bzip2 without its magics": lambda d: bz2.compress(d)[10:],
    "zstd without its magic": lambda d: zstandard.compress(d)[4:],
    "zstd written magicless": WAYS["zstd magicless"],
    "LZ4 without its magic": lambda d: lz4.frame.compress(d)[4:],
    "LZMA2 without a container, after 8 bytes of the sender's own": lambda d: b"RUN1\x00\x00\x9c\x40" + WAYS[
        "LZMA2 without a container"](d),
    "zstd without its magic, after 16 bytes of the sender's own": lambda d: random.Random(16).randbytes(16)
    + zstandard.compress(d)[4:],
    "xz without its stream header, after 12 bytes of the sender's own": lambda d: random.Random(12).randbytes(12)
    + lzma.compress(d)[12:],
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "headerless")


@pytest.mark.parametrize("name", CUT)
def test_a_stream_without_its_header_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, name, CUT[name](reads)), name)


@pytest.mark.parametrize("name", CUT)
def test_other_bytes_so_find_nothing(run_reads, name):
    """Another genome's reads compressed and cut the same way, and random bytes of the same size."""
    tmp, run, _ = run_reads
    other = CUT[name](unrelated_reads(name))
    for label, data in (("other reads", other), ("random", random.Random(name).randbytes(len(other)))):
        report = upload_report(tmp, run, f"{label} {name}", data)
        assert_no_content(report, (name, label))


BEHIND = {
    "a brotli after its 4-byte length": lambda d: struct.pack("<I", len(d)) + brotli.compress(d),
    "a brotli after a header of 16 bytes": lambda d: b"SEQ1\x00\x01\x00\x00" + struct.pack("<Q", len(d)) + brotli.compress(d),
    "brotli records of 4 KiB, each after its length": lambda d: b"".join(
        struct.pack("<I", len(c)) + c for c in (brotli.compress(d[i:i + 4096]) for i in range(0, len(d), 4096))),
    "brotli records of 200 bytes, each after its length": lambda d: b"".join(
        struct.pack(">H", len(c)) + c for c in (brotli.compress(d[i:i + 200]) for i in range(0, len(d), 200))),
    "a raw snappy block after its 4-byte length": lambda d: struct.pack("<I", len(d)) + bytes(cramjam.snappy.compress_raw(d)),
    "raw snappy blocks of 4 KiB, each after its length": lambda d: b"".join(
        struct.pack("<I", len(c)) + c for c in (bytes(cramjam.snappy.compress_raw(d[i:i + 4096])) for i in range(0, len(d), 4096))),
    "a raw snappy block after a header of 16 bytes": lambda d: b"SEQ1" * 4 + bytes(cramjam.snappy.compress_raw(d)),
    "a raw LZ4 block after 8 random bytes": lambda d: random.Random(8).randbytes(8) + lz4.block.compress(d, store_size=False),
}


@pytest.mark.parametrize("name", BEHIND)
def test_a_stream_of_no_magic_after_bytes_of_the_sender_s_own_replays_as_a_leak(run_reads, name):
    """Brotli, a raw snappy block and a raw LZ4 block have no magic: each was tried only at the view's
    start, and one after a length or a header replayed clean, as did brotli records of a length and a
    stream one after another."""
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, name, BEHIND[name](reads)), name)
    report = upload_report(tmp, run, f"other {name}", BEHIND[name](unrelated_reads(name)))
    assert_no_content(report, name)
