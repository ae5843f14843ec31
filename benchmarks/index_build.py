"""Index build time and peak memory: a generated ~1M-read FASTQ.gz run, then the real data folders.

    .venv/bin/python benchmarks/index_build.py [--reads 1000000] [--keep DIR]

Peak memory is the process's peak RSS growth while building (sampled by a psutil thread every
50 ms), so it includes numpy temporaries; the build runs with a fresh cache each time. Cache reuse is
timed twice: the usual case (a MAC'd stamp vouches for the verified arrays) and the unfavourable one
(no stamp: every array byte is hashed again to check the MAC, as after a copy or a touch).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.index import build_index, cache_folder  # noqa: E402
from tests.index.genrun import make_run  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


class PeakRss:
    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def measure(run_dir: Path, cache: Path, progress: bool = False) -> None:
    with PeakRss() as mem:
        t = time.perf_counter()
        ix = build_index(run_dir, cache_dir=cache, progress=progress)
        took = time.perf_counter() - t
    time.sleep(0.1)  # a stamp vouches only for files older than CTIME_SLACK_NS
    build_index(run_dir, cache_dir=cache)  # verifies fully once if the build could not stamp
    t = time.perf_counter()
    again = build_index(run_dir, cache_dir=cache)
    reuse = time.perf_counter() - t
    folder = cache_folder(run_dir, cache)
    (folder / "stamp.json").unlink()
    t = time.perf_counter()
    build_index(run_dir, cache_dir=cache)
    full = time.perf_counter() - t
    arrays = sum(p.stat().st_size for p in folder.glob("*.npy")) / 2**20
    mb = ix.total_bytes / 1e6
    print(f"{run_dir.name}: {len(ix.files)} files, {mb:.1f} MB, {ix.reads} reads -> build {took:.1f} s "
          f"({mb / took:.1f} MB/s), peak RSS +{(mem.peak - mem.base) / 2**20:.0f} MiB, "
          f"{len(ix.fp_hash)} fingerprints, {len(ix.km)} k-mers, cache reuse {reuse * 1000:.0f} ms "
          f"(cached={again.cached}), with full MAC check of {arrays:.0f} MiB of arrays {full * 1000:.0f} ms")
    print(f"  floor: {ix.detection_floor()['text']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=1_000_000, help="reads in the generated run (150 bp)")
    ap.add_argument("--keep", type=Path, help="generate the run here (reused if present)")
    ap.add_argument("--no-real", action="store_true", help="skip the real data folders")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    run_dir = args.keep or work / "run"
    if not (run_dir / "RunInfo.xml").exists():
        t = time.perf_counter()
        make_run(run_dir, samples=4, reads_per_sample=args.reads // 4, genome_size=5_000_000, seed=3)
        print(f"generated {args.reads} reads in {time.perf_counter() - t:.1f} s at {run_dir}")
    measure(run_dir, work / "cache", progress=sys.stderr.isatty())
    if not args.no_real and SHARED.is_dir():
        folders = sorted(p for p in (SHARED / "illumina").iterdir() if p.is_dir())
        for folder in [*folders, SHARED / "nanopore", SHARED / "sequences"]:
            measure(folder, work / "cache")


if __name__ == "__main__":
    main()
