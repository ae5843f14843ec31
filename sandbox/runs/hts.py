"""htslib access shared by the BAM/CRAM/SAM and VCF readers: no remote references, quiet stderr."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pysam

# htslib fetches missing CRAM references from the EBI server when REF_PATH is unset; the rig must
# never reach out, so references are looked up only in a local path that does not exist.
NO_REMOTE_REF_PATH = "/nonexistent/sandbox-no-remote-references/%s"
os.environ.setdefault("REF_PATH", NO_REMOTE_REF_PATH)
os.environ.setdefault("REF_CACHE", NO_REMOTE_REF_PATH)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """htslib prints warnings for every missing index or reference; errors reach us as exceptions."""
    old = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(old)
