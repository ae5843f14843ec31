"""A generated run folder (2 samples x 3000 reads of 150 bp, FASTQ.gz, sample sheet), indexed once."""

from __future__ import annotations

import pytest

from sandbox.index import build_index
from tests.index.genrun import make_run


@pytest.fixture(scope="session")
def gen_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("gen") / "run", samples=2, reads_per_sample=3000)


@pytest.fixture(scope="session")
def gen_index(gen_run, tmp_path_factory):
    return build_index(gen_run.path, cache_dir=tmp_path_factory.mktemp("cache"))
