"""A gzip of reads hidden in prose replays as a leak: in the case of its letters (a capital a one), in
the spaces and tabs after each line's last word (a tab a one), in the gaps between its words (two spaces a
one).  Each replayed CLEAN: every byte was printable prose and the data was in none of them
(``sandbox.decode.textbits``).  The controls hide another genome's reads, or random bytes, the same ways,
and send the prose alone: no content finding."""

from __future__ import annotations

import gzip
import random

import pytest

from tests.decode.test_textbits import in_case, in_line_ends, in_word_gaps, prose
from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    upload_report,
)

WAYS = {"letter case": in_case, "blanks after each line": in_line_ends, "gaps between words": in_word_gaps}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "prose")


@pytest.mark.parametrize("way", WAYS)
def test_a_gzip_of_reads_hidden_in_prose_replays_as_a_leak(run_reads, way):
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, way, WAYS[way](gzip.compress(reads[:20000], mtime=0))), way)


@pytest.mark.parametrize("way", WAYS)
def test_other_bytes_hidden_so_and_the_prose_alone_find_nothing(run_reads, way):
    tmp, run, _ = run_reads
    for name, data in (("other", gzip.compress(unrelated_reads(way, 120), mtime=0)),
                       ("random", random.Random(way).randbytes(8000))):
        assert_no_content(upload_report(tmp, run, f"{name} {way}", WAYS[way](data)), way)
    assert_no_content(upload_report(tmp, run, "prose alone", prose(60000).encode()))
