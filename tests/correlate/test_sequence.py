from __future__ import annotations

from sandbox.correlate.sequence import WINDOW, match, view_kmers
from tests.index.genrun import random_genome


def test_read_inside_long_unrelated_run_is_found(gen_run, gen_index):
    read = gen_run.reads["PT1000-Biopsy"][2]
    for at in (0, 37, WINDOW - 60, WINDOW + 13, 5 * WINDOW):
        seq = random_genome(at, 1) + read + random_genome(3 * WINDOW, 2)
        hit = match(gen_index, view_kmers(b"x" + seq + b"y"))
        assert hit is not None and hit.bases >= 140, at


def test_no_dna_no_kmers(gen_index):
    assert view_kmers(b"hello world, nothing here " * 10) is None
    assert view_kmers(b"A" * 500) is None  # one letter repeated: its one k-mer is never evidence
    assert match(gen_index, view_kmers(b"CA" * 250)) is None  # low complexity: never in the index


def test_low_complexity_tail_does_not_dilute_a_read(gen_run, gen_index):
    read = gen_run.reads["PT1000-Biopsy"][4]
    hit = match(gen_index, view_kmers(read[:90] + b"A" * 110))  # 60 k-mers of read, then poly-A
    assert hit is not None and hit.rows.size == 60
