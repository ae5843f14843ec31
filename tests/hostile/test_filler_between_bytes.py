"""Reads with random filler between their bytes replay as a leak.

A random byte after each byte of the reads, two after every two, one before every three, or base64 of
a gzip of them so, uploaded to the allowed LIMS, replayed clean: the body looked random (weighed as
ciphertext sent to an allowed place) and no decoder read the text between the filler.  Now a view
whose positions a stride apart are text and random filler by turns is read at its text's positions
(``sandbox.decode.strided``).  So did a gzip, a bzip2 or an xz of them with filler between its bytes
(XOR-ed with a byte too, before the filler or after): now a stream whose first bytes so taken open
it is read out.  The controls carry another genome's reads the same ways: no content
finding.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma

import pytest

from tests.decode.test_strided import chaffed
from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    upload_report,
)


def _xored(data: bytes) -> bytes:
    return bytes(b ^ 0x5A for b in data)


WAYS = {
    "a random byte after each": lambda d: chaffed(d, 2, (0,)),
    "two random bytes after every two": lambda d: chaffed(d, 4, (0, 1)),
    "a random byte before every three": lambda d: chaffed(d, 4, (1, 2, 3)),
    "base64 of a gzip, a random byte after each": lambda d: chaffed(base64.b64encode(gzip.compress(d)), 2, (0,)),
    "a gzip, a random byte after each": lambda d: chaffed(gzip.compress(d), 2, (0,)),
    "a gzip, two random bytes after each": lambda d: chaffed(gzip.compress(d), 3, (0,)),
    "a bzip2, a random byte before every three": lambda d: chaffed(bz2.compress(d), 4, (1, 2, 3)),
    "an xz, two random bytes after every five": lambda d: chaffed(lzma.compress(d), 7, (0, 1, 2, 3, 4)),
    "a gzip XOR-ed with a byte, a random byte after each": lambda d: chaffed(_xored(gzip.compress(d)), 2, (0,)),
    "a gzip, a random byte after each, all XOR-ed with a byte": lambda d: _xored(chaffed(gzip.compress(d), 2, (0,))),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "filler")


@pytest.mark.parametrize("way", WAYS)
def test_reads_with_filler_between_their_bytes_replay_as_a_leak(run_reads, way):
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, way, WAYS[way](reads)), way)


@pytest.mark.parametrize("way", WAYS)
def test_another_genome_s_reads_so_find_nothing(run_reads, way):
    tmp, run, _ = run_reads
    report = upload_report(tmp, run, f"other {way}", WAYS[way](unrelated_reads(way)))
    assert_no_content(report, way)
