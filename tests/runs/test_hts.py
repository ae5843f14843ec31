"""htslib guard: importing the readers points CRAM reference lookups at a local, absent path."""

from __future__ import annotations

import os

import pysam

from sandbox.runs import hts


def test_no_remote_reference_lookup():
    assert "://" not in os.environ["REF_PATH"] and "://" not in os.environ["REF_CACHE"]


def test_quiet_restores_verbosity():
    before = pysam.set_verbosity(3)
    with hts.quiet():
        pass
    assert pysam.set_verbosity(before) == 3
