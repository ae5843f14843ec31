"""A zlib or raw deflate stream, or an LZ4 block, of reads compressed with a preset dictionary replays as
a leak, or says what it could not read; never clean.

``compressobj(zdict=...)`` costs a sender one argument: the stream's header says a dictionary is needed
(zlib's FDICT), or nothing does (raw deflate, an LZ4 block), and no decoder could inflate it: each
replayed CLEAN.  A
dictionary of the sender's own random bytes (never copied from): read whole, a leak.  One the reads copy
from (reads of the run itself): read with zeros for what it copied, and said not read (inconclusive at
least).  The controls: another genome's reads so: no content finding.
"""

from __future__ import annotations

import os
import zlib

import lz4.block
import pytest

from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    upload_report,
)


def _compressed(data: bytes, zdict: bytes, wbits: int = 15) -> bytes:
    c = zlib.compressobj(wbits=wbits, zdict=zdict)
    return c.compress(data) + c.flush()


WAYS = {
    "zlib, a random dictionary": lambda d: _compressed(d, os.urandom(32768)),
    "zlib, a random dictionary, after a header of 8 bytes": lambda d: b"DIAG\x00\x01\x00\x10" + _compressed(d, os.urandom(4096)),
    "raw deflate, a random dictionary": lambda d: _compressed(d, os.urandom(32768), -15),
}
COPIED = {
    "zlib, a dictionary of the run's reads": lambda d, r: _compressed(d, r[-4000:]),
    "raw deflate, a dictionary of the run's reads": lambda d, r: _compressed(d, r[-4000:], -15),
    "an LZ4 block behind its size, a dictionary of the run's reads": lambda d, r: lz4.block.compress(d, dict=r[-4000:]),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "dictionaries")


@pytest.mark.parametrize("way", WAYS)
def test_reads_with_a_dictionary_of_the_sender_s_own_replay_as_a_leak(run_reads, way):
    tmp, run, reads = run_reads
    report = upload_report(tmp, run, way.replace(",", ""), WAYS[way](reads))
    assert_content_leak(report, way)
    if way.startswith("zlib"):      # (its header says a dictionary is needed: said, whether copied from or not)
        assert any("preset dictionary" in row["what"] for row in report["not_examined"]), way


@pytest.mark.parametrize("way", COPIED)
def test_reads_that_copy_from_their_dictionary_are_never_clean(run_reads, way):
    tmp, run, reads = run_reads
    report = upload_report(tmp, run, way.replace(",", "").replace("'", ""), COPIED[way](reads[:30000], reads[30000:]))
    assert report["verdict"] in ("leak", "inconclusive"), way
    assert any("preset dictionary" in row["what"] for row in report["not_examined"]), way


@pytest.mark.parametrize("way", WAYS)
def test_another_genome_so_is_no_content(run_reads, way):
    tmp, run, _ = run_reads
    assert_no_content(upload_report(tmp, run, "other " + way.replace(",", ""), WAYS[way](unrelated_reads(way))), way)
