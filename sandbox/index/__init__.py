"""The run index: byte fingerprints, canonical DNA k-mers and identifiers of one run folder.

``build_index(run_dir)`` streams every file of the folder once (via ``sandbox.runs.scan_run``) and
keeps only hashes and k-mers; the result is cached, authenticated, in the rig's own cache folder (never
in the run folder, which the instrument writes) and reused while the folder is unchanged.
"""

from .build import build_index, manifest_of
from .cache import cache_folder, default_cache_root
from .runindex import FORMAT_VERSION, IndexedFile, RunIndex

__all__ = ["FORMAT_VERSION", "IndexedFile", "RunIndex", "build_index", "cache_folder", "default_cache_root",
           "manifest_of"]
