"""Reads' bases written column by column, uploaded to an allowed destination, replay as a leak.

Every read's first base, then every read's second, ... (``zip(*reads)``), flat, a column a line, or
gzipped: each base beside the same cycle of another read, no k-mer of a read survived, and each
replayed clean.  Now a view of bases alone is put back read by read (``sandbox.decode.transposed``)."""

from __future__ import annotations

import gzip

import pytest

from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    upload_report,
)


def _transposed(fastq: bytes, lines: bool) -> bytes:
    """The reads' bases written column by column, a column a line or flat."""
    seqs = fastq.split(b"\n")[1::4]
    length = min(map(len, seqs))
    columns = [bytes(s[i] for s in seqs) for i in range(length)]
    return b"\n".join(columns) + b"\n" if lines else b"".join(columns)


WAYS = {
    "flat": lambda r: _transposed(r, False),
    "a column a line": lambda r: _transposed(r, True),
    "flat, gzipped": lambda r: gzip.compress(_transposed(r, False)),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "transposed")


@pytest.mark.parametrize("way", WAYS)
def test_reads_written_transposed_replay_as_a_leak(run_reads, way):
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, f"transposed {way}", WAYS[way](reads)), way)


@pytest.mark.parametrize("way", WAYS)
def test_other_reads_transposed_find_nothing(run_reads, way):
    tmp, run, _ = run_reads
    other = b"".join(b"@x\n%s\n+\n%s\n" % (line, b"F" * len(line))
                     for line in unrelated_reads(way).split(b"\n")[1::2] if line)
    report = upload_report(tmp, run, f"other transposed {way}", WAYS[way](other))
    assert_no_content(report, way)
