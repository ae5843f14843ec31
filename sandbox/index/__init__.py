"""The run index: byte fingerprints, canonical DNA k-mers and identifiers of one run folder.

``build_index(run_dir)`` streams every file of the folder once (via ``sandbox.runs.scan_run``) and
keeps only hashes; the result is cached beside the run and reused while the folder is unchanged.
"""

from .build import build_index, cache_folder, manifest_of
from .runindex import FORMAT_VERSION, IndexedFile, RunIndex

__all__ = ["FORMAT_VERSION", "IndexedFile", "RunIndex", "build_index", "cache_folder", "manifest_of"]
