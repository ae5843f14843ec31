"""Run-folder readers: ``scan_run(path)`` classifies every file of an Illumina or nanopore run folder.

Each file is a ``RunFile`` subclass chosen by the format registry (``registry.FORMATS``) and streams
``raw()``, ``decoded()``, ``reads()`` and ``identifiers()``. A corrupt file never raises out of these
streams: the stream ends and a one-line reason lands in ``file.errors`` (and ``RunScan.errors``).
"""

from .base import Identifier, RunFile, RunFileError, RunMeta, Sample
from .registry import FORMATS
from .scan import RunFolderError, RunScan, classify, scan_run

__all__ = [
    "FORMATS", "Identifier", "RunFile", "RunFileError", "RunFolderError", "RunMeta",
    "RunScan", "Sample", "classify", "scan_run",
]
