"""Walk a run folder: classify every file with the format registry, build the run's metadata."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .base import DATA_ERRORS, HEAD_BYTES, RunFile, RunMeta
from .registry import FORMATS


class RunFolderError(Exception):
    """The run path cannot be scanned at all (missing, not a directory, unreadable); one-line reason."""


@dataclass
class RunScan:
    root: Path
    meta: RunMeta
    files: list[RunFile]
    scan_errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # symlinked dirs, special files

    @property
    def errors(self) -> list[str]:
        """Scan-time problems plus every problem the files' streams have met so far."""
        return self.scan_errors + [e for f in self.files for e in f.errors]


def classify(rel: str, head: bytes) -> type[RunFile]:
    for cls in FORMATS:
        if cls.claim(rel, head):
            return cls
    return RunFile


def _walk(root: Path, scan: RunScan) -> list[Path]:
    paths: list[Path] = []

    def onerror(exc: OSError) -> None:
        scan.scan_errors.append(f"{Path(exc.filename).relative_to(root).as_posix() or '.'}: cannot list: "
                                f"{exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            rel = (here / d).relative_to(root).as_posix()
            # hidden folders are read like any other: the instrument could hide run data there
            if (here / d).is_symlink():
                scan.skipped.append(rel + "/")
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            p = here / name
            if not p.is_file():
                scan.skipped.append(p.relative_to(root).as_posix())
                scan.scan_errors.append(f"{p.relative_to(root).as_posix()}: not a regular file, skipped")
            else:
                paths.append(p)
    return paths


def scan_run(path: str | os.PathLike) -> RunScan:
    """Classify every file under ``path`` and gather run id, platform, samples and identifiers."""
    root = Path(path)
    if not root.exists():
        raise RunFolderError(f"{root}: run folder does not exist")
    if not root.is_dir():
        raise RunFolderError(f"{root}: not a directory")
    try:
        next(os.scandir(root), None)
    except OSError as exc:
        raise RunFolderError(f"{root}: cannot read run folder: {exc.strerror}") from None
    root = root.resolve()
    scan = RunScan(root, RunMeta(), [])
    for p in _walk(root, scan):
        rel = p.relative_to(root).as_posix()
        try:
            with open(p, "rb") as fh:
                head = fh.read(HEAD_BYTES)
            scan.files.append(classify(rel, head)(root, p))
        except OSError as exc:
            scan.scan_errors.append(f"{rel}: cannot read: {exc.strerror or exc}")
    meta = scan.meta
    for f in sorted((f for f in scan.files if f.meta_order), key=lambda f: f.meta_order):
        try:
            f.contribute(meta)
        except DATA_ERRORS as exc:
            scan.scan_errors.append(f"{f.rel}: {type(exc).__name__}: {exc}".splitlines()[0])
    if not meta.platform:
        platforms = {f.platform for f in scan.files}
        meta.platform = "illumina" if "illumina" in platforms else "nanopore" if "nanopore" in platforms else "unknown"
    if not meta.run_id:
        meta.run_id = root.name
    single = tuple(meta.sample_ids()) if len(meta.sample_ids()) == 1 else ()
    for f in scan.files:
        try:
            f.samples = f.assign_samples(meta)
        except DATA_ERRORS as exc:
            scan.scan_errors.append(f"{f.rel}: samples: {type(exc).__name__}: {exc}".splitlines()[0])
        if not f.samples and single and meta.platform == "nanopore" and f.kind != "bytes":
            f.samples = single
        try:
            f.check()
        except DATA_ERRORS as exc:
            scan.scan_errors.append(f"{f.rel}: {type(exc).__name__}: {exc}".splitlines()[0])
    return scan
