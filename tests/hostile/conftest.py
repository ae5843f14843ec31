"""What the hostile tests share: a generated NovaSeq run and the first 40 kB of its reads."""

from __future__ import annotations

import pytest

from tests.hostile.uploads import novaseq_reads


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    """(a folder of the module's own, the run, 40 kB of its FASTQ text): what a test hides and uploads."""
    tmp = tmp_path_factory.mktemp("hostile")
    run, fastq = novaseq_reads(tmp)
    return tmp, run, fastq[:40000]
