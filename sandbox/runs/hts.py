"""htslib access shared by the BAM/CRAM/SAM and VCF readers: no remote references, quiet stderr."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from types import ModuleType

# htslib fetches missing CRAM references from the EBI server when REF_PATH is unset; the rig must
# never reach out, so references are looked up only in a local path that does not exist.
NO_REMOTE_REF_PATH = "/nonexistent/sandbox-no-remote-references/%s"
os.environ.setdefault("REF_PATH", NO_REMOTE_REF_PATH)
os.environ.setdefault("REF_CACHE", NO_REMOTE_REF_PATH)


def htslib() -> ModuleType:
    """pysam, imported on first use: most sessions read no BAM, CRAM or VCF, and start faster."""
    import pysam

    return pysam


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """htslib prints warnings for every missing index or reference; errors reach us as exceptions."""
    pysam = htslib()
    old = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(old)
