"""``build_index``: scan a run folder once, stream every file, keep hashes; cache the result.

The cache lives in the rig's own cache folder, never in the run folder, and is authenticated (see
``sandbox.index.cache``); it is reused while every run file keeps its identity (size, mtime, ctime,
inode), and rebuilt when the run changed or the cache is in doubt.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sandbox.runs import RunFile, scan_run
from sandbox.safetext import safe_text

from . import cache
from .boilerplate import is_boilerplate
from .cache import CacheDoubt, cache_folder
from .identifiers import run_identifiers
from .kmerset import READ_BATCH_BASES, KmerSetBuilder, max_hash
from .runindex import IndexedFile, RunIndex
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


def _sample_key(hashes: np.ndarray) -> np.ndarray:
    """What fingerprints are sampled by: winnowing keeps window minima, so their own hashes sit at
    the bottom of the range and a threshold on them keeps nearly all; a second mix of the hash is
    uniform again."""
    return mix64(hashes)


class _FingerprintSet:
    """Fingerprints of every stream, added pass by pass from any thread; sampled (FracMinHash)
    when over budget.  The result does not depend on the order passes come in."""

    def __init__(self, budget: int):
        self.budget = budget
        self.scale = 1
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.count = 0
        self._lock = threading.Lock()

    def add(self, hashes: np.ndarray, offsets: np.ndarray, loc: int) -> None:
        keep = ~is_boilerplate(hashes)
        hashes, offsets = hashes[keep], offsets[keep]
        with self._lock:
            if self.scale > 1:
                keep = _sample_key(hashes) <= max_hash(self.scale)
                hashes, offsets = hashes[keep], offsets[keep]
            self.parts.append((hashes, np.full(len(hashes), loc, dtype=np.uint32), offsets))
            self.count += len(hashes)
            while self.count > self.budget:
                self.scale *= 2
                limit = max_hash(self.scale)
                kept = [_sample_key(h) <= limit for h, _, _ in self.parts]
                self.parts = [(h[k], f[k], o[k]) for (h, f, o), k in zip(self.parts, kept, strict=True)]
                self.count = sum(len(h) for h, _, _ in self.parts)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hashes, file stream, offset), sorted by hash, then stream and offset; the parts are
        freed as they are joined, so the peak is about twice the kept fingerprints."""
        if not self.parts:
            return np.empty(0, np.uint64), np.empty(0, np.uint32), np.empty(0, np.uint64)
        parts, self.parts = sorted(self.parts, key=lambda p: (int(p[1][0]), int(p[2][0])) if len(p[1]) else (-1, 0)), []
        hashes, locs, offsets = (list(column) for column in zip(*parts, strict=True))
        del parts
        h = np.concatenate(hashes)
        del hashes
        order = np.argsort(h, kind="stable")
        h = h[order]
        loc = np.concatenate(locs)[order]
        del locs
        off = np.concatenate(offsets)[order]
        return h, loc, off


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


def _read_kmers(f: RunFile, kms: KmerSetBuilder, sid: int) -> int:
    """Add a file's reads to ``kms`` batch by batch; returns how many there were."""
    count = 0
    batch: list[bytes] = []
    size = 0
    for reads in f.read_batches():
        for read in reads:  # regroup into batches of READ_BATCH_BASES: one kernel pass each
            batch.append(read)
            size += len(read) + 1
            if size >= READ_BATCH_BASES:
                count += kms.add_batch(batch, sid)
                batch, size = [], 0
    if batch:
        count += kms.add_batch(batch, sid)
    return count


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
    sids = [kms.sid_of(f.samples) for f in scan.files]  # in file order: ids do not depend on threads
    total = sum(f.size for f in scan.files)
    from tqdm import tqdm  # only a build shows a bar (a replay starts faster without it)

    with tqdm(total=total, unit="B", unit_scale=True, desc=f"index {safe_text(run_dir.name, 40)}",
              disable=not progress, leave=False) as bar, \
            ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1, thread_name_prefix="index") as pool:
        jobs = [(pool.submit(_fingerprint, f.raw(), fps, fid * 2, bar),
                 pool.submit(_fingerprint, f.decoded(), fps, fid * 2 + 1),
                 pool.submit(_read_kmers, f, kms, sid))
                for fid, (f, sid) in enumerate(zip(scan.files, sids, strict=True))]
        files = [IndexedFile(f.rel, f.size, f.kind, list(f.samples), raw.result(), decoded.result(), reads.result())
                 for f, (raw, decoded, reads) in zip(scan.files, jobs, strict=True)]
    extra_ids = [ident for f in scan.files for ident in f.identifiers()]
    km, km_sid, sets, km_scale = kms.finish()  # first: its merge arrays are freed before the fingerprints sort
    fp_hash, fp_loc, fp_off = fps.finish()
    index = RunIndex(
        run_id=meta.run_id, path=run_dir, platform=meta.platform,
        samples=[{"sample_id": s.sample_id, "name": s.name, "project": s.project} for s in meta.samples
                 if s.sample_id],
        files=files, identifiers=run_identifiers(meta, extra_ids), errors=list(scan.errors),
        fp_hash=fp_hash, fp_loc=fp_loc, fp_off=fp_off, km=km, km_sid=km_sid,
        sample_sets=[list(s) for s in sets.sets], fp_scale=fps.scale, km_scale=km_scale,
        reads=kms.reads, bases=kms.bases, build_seconds=time.perf_counter() - started,
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
