"""``build_index``: scan a run folder once, stream every file, keep hashes; cache the result.

The cache lives in the rig's own cache folder, never in the run folder, and is authenticated (see
``sandbox.index.cache``); it is reused while every run file keeps its identity (size, mtime, ctime,
inode), and rebuilt when the run changed or the cache is in doubt.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sandbox.runs import RunFile, scan_run
from sandbox.safetext import safe_text

from . import _kernels, cache
from .boilerplate import is_boilerplate
from .cache import CacheDoubt, cache_folder
from .identifiers import run_identifiers
from .kmerset import KmerSetBuilder, SampledParts
from .runindex import IndexedFile, RunIndex
from .variants import VariantSetBuilder
from .winnow import Winnower, mix64

if TYPE_CHECKING:
    from tqdm import tqdm

# Byte fingerprints kept exactly (20 bytes each): ~1.8 GB of run content at one per ~113 bytes.
# Past this the fingerprints are sampled (FracMinHash) and the index states its detection floor.
FP_BUDGET = 16_000_000


def manifest_of(run_dir: Path) -> list[list]:
    """(rel path, size, mtime_ns, ctime_ns, inode) of every file the scan reads (hidden ones too,
    symlinked folders not, as scan_run). ctime and inode too: the instrument can set a file's mtime
    back, not those."""
    rows = []
    for dirpath, dirnames, filenames in os.walk(run_dir):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            try:
                st = os.stat(p)
            except OSError:
                continue
            rows.append([os.path.relpath(p, run_dir).replace(os.sep, "/"), st.st_size, st.st_mtime_ns,
                         st.st_ctime_ns, st.st_ino])
    return rows


def _rig_key_for(run_dir: Path, folder: Path) -> tuple[bytes, list[str]]:
    """The MAC key, when the cache folder is private and it and the key lie outside the run folder
    (and with a note when an unsafe key was replaced); else CacheDoubt."""
    for what, path in (("index cache", folder), ("rig key", cache.key_path())):
        if path.resolve().is_relative_to(run_dir):
            raise CacheDoubt(f"index cache off: the {what} {path} is inside the run folder, which the "
                             "instrument writes")
    try:
        cache.private_dir(folder)
    except OSError as exc:
        raise CacheDoubt(f"index cache off: cannot make {folder} ({exc.strerror or exc})") from exc
    key, note = cache.rig_key()
    return key, [note] if note else []


try:  # glibc's: hands free heap pages back to the system (elsewhere freed memory goes back by itself)
    _MALLOC_TRIM = ctypes.CDLL(None).malloc_trim
except (AttributeError, OSError):
    _MALLOC_TRIM = None


def _give_back_free_heap() -> None:
    """Return the heap the reading threads freed before the final sorts: glibc keeps it in their
    arenas (resident, about 300 MB after a 10M-read build) unless asked."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _sample_key(hashes: np.ndarray) -> np.ndarray:
    """What fingerprints are sampled by: winnowing keeps window minima, so their own hashes sit at
    the bottom of the range and a threshold on them keeps nearly all; a second mix of the hash is
    uniform again."""
    return mix64(hashes)


class _FingerprintSet:
    """Fingerprints of every stream, added pass by pass from any thread; sampled (FracMinHash)
    when over budget.  The result does not depend on the order passes come in.

    Kept as (hashes, offsets, stream) per pass: 16 bytes a fingerprint, the stream once per pass.
    """

    def __init__(self, budget: int):
        self.kept = SampledParts(budget, _sample_key)

    @property
    def scale(self) -> int:
        return self.kept.scale

    def add(self, hashes: np.ndarray, offsets: np.ndarray, loc: int) -> None:
        keep = ~is_boilerplate(hashes)
        self.kept.add(hashes[keep], offsets[keep], loc)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hashes, file stream, offset), sorted by hash, then stream and offset.  Each column is
        joined as its parts are freed and put in hash order in place, so the peak is the result
        plus the order (8 bytes a fingerprint)."""
        parts = sorted(self.kept.take(), key=lambda p: (p[2], int(p[1][0])) if len(p[1]) else (-1, 0))
        streams = np.array([f for _, _, f in parts], dtype=np.uint32)
        sizes = np.array([len(h) for h, _, _ in parts], dtype=np.int64)
        h = _column(parts, 0)
        order = np.argsort(h, kind="stable")
        h.sort()  # the same as h[order], without a second array
        off = _column(parts, 1)
        _kernels.permute(off, order, np.zeros((len(off) + 7) // 8, dtype=np.uint8))
        return h, np.repeat(streams, sizes)[order], off


def _column(parts: list, column: int) -> np.ndarray:
    """One uint64 column of the parts in one array, each part's column dropped once copied."""
    out = np.empty(sum(len(p[column]) for p in parts), dtype=np.uint64)
    at = 0
    for i, part in enumerate(parts):
        n = len(part[column])
        out[at: at + n] = part[column]
        parts[i] = (*part[:column], part[column][:0], *part[column + 1:])
        at += n
    return out


def _fingerprint(blocks: Iterable[bytes], fps: _FingerprintSet, loc: int, bar: tqdm | None = None) -> int:
    """Winnow a stream into ``fps`` pass by pass; returns the stream's length."""
    w = Winnower()
    for block in blocks:
        w.feed(block)
        if bar is not None:
            bar.update(len(block))
        fps.add(*w.take(), loc)
    fps.add(*w.finish(), loc)
    return w.length


def _read_kmers(f: RunFile, kms: KmerSetBuilder) -> int:
    """Add a file's reads to ``kms``; returns how many there were."""
    return kms.add_reads(itertools.chain.from_iterable(f.read_batches()), f.samples)


def _read_variants(f: RunFile, kms: KmerSetBuilder, vs: VariantSetBuilder) -> int:
    """Add a file's variant records to ``vs`` (its samples' set id from ``kms``)."""
    return vs.add(f.variants(), kms.sid_of(f.samples))


def build_index(run_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                progress: bool = False, *, fp_budget: int = FP_BUDGET,
                kmer_budget: int | None = None, workers: int | None = None) -> RunIndex:
    """The index of ``run_dir``: from the rig's cache when authentic and the folder is unchanged, else
    built and cached. What put the cache in doubt is said once on stderr and kept in ``notes``.

    Each file's three streams (raw bytes, decoded content, reads) are separate tasks for
    ``workers`` threads (default: one per core); the kernels they spend their time in run without
    the GIL, and the index is the same whatever the number of threads.
    """
    run_dir = Path(run_dir).resolve()
    scan = scan_run(run_dir)  # raises RunFolderError for a missing/unreadable folder
    manifest = manifest_of(run_dir) + [["__params__", fp_budget, kmer_budget or 0]]
    folder = cache_folder(run_dir, Path(cache_dir) if cache_dir is not None else None)
    key, notes = None, []
    try:
        key, notes = _rig_key_for(run_dir, folder)
        cached = cache.load(folder, manifest, key)
    except CacheDoubt as exc:
        notes.append(str(exc))
        cached = None
    if cached is not None:
        cached.notes = _said(notes)
        return cached
    started = time.perf_counter()
    meta = scan.meta
    fps = _FingerprintSet(fp_budget)
    kms = KmerSetBuilder(kmer_budget) if kmer_budget else KmerSetBuilder()
    vs = VariantSetBuilder()
    for f in scan.files:
        kms.sid_of(f.samples)  # in file order: ids do not depend on threads
    total = sum(f.size for f in scan.files)
    from tqdm import tqdm  # only a build shows a bar (a replay starts faster without it)

    with tqdm(total=total, unit="B", unit_scale=True, desc=f"index {safe_text(run_dir.name, 40)}",
              disable=not progress, leave=False) as bar, \
            ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1, thread_name_prefix="index") as pool:
        jobs = [(pool.submit(_fingerprint, f.raw(), fps, fid * 2, bar),
                 pool.submit(_fingerprint, f.decoded(), fps, fid * 2 + 1),
                 pool.submit(_read_kmers, f, kms),
                 pool.submit(_read_variants, f, kms, vs))
                for fid, f in enumerate(scan.files)]
        files = [IndexedFile(f.rel, f.size, f.kind, list(f.samples), raw.result(), decoded.result(), reads.result())
                 for f, (raw, decoded, reads, _) in zip(scan.files, jobs, strict=True)]
        for *_, variants in jobs:
            variants.result()
    extra_ids = [ident for f in scan.files for ident in f.identifiers()]
    _give_back_free_heap()
    km, km_sid, sets, km_scale = kms.finish()  # first: its merge arrays are freed before the fingerprints sort
    fp_hash, fp_loc, fp_off = fps.finish()
    var_key, var_sid, var_pos = vs.finish(kms.sets)
    index = RunIndex(
        run_id=meta.run_id, path=run_dir, platform=meta.platform,
        samples=[{"sample_id": s.sample_id, "name": s.name, "project": s.project} for s in meta.samples
                 if s.sample_id],
        files=files, identifiers=run_identifiers(meta, extra_ids), errors=list(scan.errors),
        fp_hash=fp_hash, fp_loc=fp_loc, fp_off=fp_off, km=km, km_sid=km_sid,
        sample_sets=[list(s) for s in sets.sets], fp_scale=fps.scale, km_scale=km_scale,
        reads=kms.reads, bases=kms.bases, build_seconds=time.perf_counter() - started,
        var_key=var_key, var_sid=var_sid, var_pos=var_pos, variants=vs.records, var_scale=vs.scale,
    )
    _dedupe_samples(index)
    if key is not None:
        try:
            cache.save(index, folder, manifest, key)
        except (OSError, CacheDoubt) as exc:
            notes.append(f"index cache not written to {folder}: {getattr(exc, 'strerror', None) or exc}")
    index.notes = _said(notes)
    return index


def _said(notes: list[str]) -> list[str]:
    for note in notes:
        print(f"sandbox: note: {note}", file=sys.stderr)
    return notes


def _dedupe_samples(index: RunIndex) -> None:
    """One row per sample id (multi-lane sheets list a sample once per lane)."""
    seen: dict[str, dict] = {}
    for s in index.samples:
        seen.setdefault(s["sample_id"], s)
    index.samples = list(seen.values())
