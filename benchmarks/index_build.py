"""Index build speed and peak memory on a simulated MiSeq-like run (sequencing errors included).

    .venv/bin/python benchmarks/index_build.py [--reads 1000000] [--keep DIR] [--workers 1 2]
        [--before DIR] [--no-real]

The run folder is written by ``sandbox.simulate`` (its layout, sample sheet and read model: random
genomes, 0.3% errors, MiSeq-shaped qualities), its FASTQ.gz files in chunks so 10M+ reads fit in
memory; ``--keep DIR`` keeps it there (and reuses a run found there: a real 10M-read run is
``--reads 10000000 --keep DIR``, ~1.5 GB).  Each build runs in a fresh child process from an empty
cache; it is timed in wall and CPU seconds (all threads) beside an anchor on the same files
(decompressing them once: the least any reader of a FASTQ.gz does), with the peak RSS growth
sampled every 50 ms.  ``--before DIR`` also builds with the code of another checkout (e.g. main:
``git worktree add DIR main`` and ``python setup.py build_ext --inplace`` there), each thread count
before and after in turn, and prints the ratios and whether the two indexes are identical.
Figures per core are MB of uncompressed FASTQ per CPU second; the 50M-read figures are
extrapolated from the per-read cost.  Cache reuse is timed twice: the usual case (a MAC'd stamp
vouches for the verified arrays) and the unfavourable one (no stamp: every array byte is hashed
again to check the MAC, as after a copy or a touch).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from isal import igzip

# The code measured: this checkout's, or in a child process (``--child CODE RUN CACHE WORKERS``,
# one build) the checkout CODE's: so one run times the code before and after a change.
CHILD = "--child" in sys.argv
CODE = Path(sys.argv[sys.argv.index("--child") + 1]).resolve() if CHILD else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CODE))

from sandbox.index import build_index, cache_folder  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLES = 4
GENOME = 5_000_000  # bases per sample's genome: reads of a 10M-read run overlap, as on a real run
CHUNK_READS = 200_000  # reads simulated and compressed at a time
TARGET_MB_S = 30  # issue 10: MB of uncompressed FASTQ per second per core
TARGET_PEAK_MIB = 1536  # ...and 10M reads within 1.5 GiB


def simulate_run(dest: Path, reads: int, seed: int = 5) -> Path:
    """A MiSeq-like run folder (no BCL) with ``reads`` reads over SAMPLES samples."""
    from sandbox.simulate import dna  # here: a child measuring older code imports only its index
    from sandbox.simulate.runfolder import MISEQ, layout, make_illumina_run, sample_fastqs

    run = make_illumina_run(dest, seed=seed, samples=SAMPLES, reads_per_sample=10, with_bcl=False)
    lay = layout(seed, SAMPLES)
    rng = np.random.default_rng(seed)
    prefix = f"@{MISEQ}:{lay.run_number}:{lay.flowcell}:1"
    for s, path in enumerate(sample_fastqs(run).values()):
        genome = dna.random_codes(rng, GENOME)
        per_sample = reads // SAMPLES
        with igzip.open(path, "wb", compresslevel=2) as out:
            for first in range(0, per_sample, CHUNK_READS):
                n = min(CHUNK_READS, per_sample - first)
                codes = dna.sample_reads(rng, genome, n, 151)
                quals = dna.qualities(rng, codes)
                tile = 1101 + first // 1_000_000
                heads = [b"%s:%d:%d:%d 1:N:0:%d" % (prefix.encode(), tile, 1000 + i % 28000, 1000 + i // 28000, s + 1)
                         for i in range(first, first + n)]
                out.write(dna.fastq(heads, codes, quals))
    return run


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


def _decompress_all(run_dir: Path) -> int:
    total = 0
    for path in sorted(run_dir.rglob("*.fastq.gz")):
        with igzip.open(path, "rb") as fh:
            while block := fh.read(4 << 20):
                total += len(block)
    return total


def measure(run_dir: Path, cache: Path, workers: int | None, progress: bool = False) -> dict:
    shutil.rmtree(cache, ignore_errors=True)
    with PeakRss() as mem:
        wall, cpu = time.perf_counter(), time.process_time()
        ix = build_index(run_dir, cache_dir=cache, progress=progress, workers=workers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
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
    digest = hashlib.sha256(json.dumps([ix.sample_sets, ix.fp_scale, ix.km_scale, ix.reads, ix.bases]).encode())
    for name in ("fp_hash", "fp_loc", "fp_off", "km", "km_sid"):
        column = getattr(ix, name)
        digest.update(f"{name} {column.dtype}".encode() + column.tobytes())
    fastq_mb = sum(f.decoded_len for f in ix.files if f.kind == "fastq") / 1e6
    return {"reads": ix.reads, "files": len(ix.files), "mb": ix.total_bytes / 1e6, "fastq_mb": fastq_mb,
            "wall": wall, "cpu": cpu, "peak_mib": (mem.peak - mem.base) / 2**20, "fingerprints": len(ix.fp_hash),
            "kmers": len(ix.km), "fp_scale": ix.fp_scale, "km_scale": ix.km_scale, "reuse_ms": reuse * 1000,
            "cached": again.cached, "full_check_ms": full * 1000, "arrays_mib": arrays, "floor": ix.detection_floor()["text"],
            "digest": digest.hexdigest()}


def measure_in_child(code: Path, run_dir: Path, cache: Path, workers: int) -> dict:
    """``measure`` in a fresh process importing ``code``'s sandbox (the peak is its own alone)."""
    out = subprocess.run([sys.executable, __file__, "--child", str(code), str(run_dir), str(cache), str(workers)],
                         stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def report(name: str, r: dict, anchor_mb_s: float | None = None) -> None:
    per_core = r["fastq_mb"] / r["cpu"] if r["fastq_mb"] else float("nan")
    print(f"{name}: {r['files']} files, {r['mb']:.0f} MB ({r['fastq_mb']:.0f} MB of FASTQ text), {r['reads']} reads")
    print(f"  build {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU: {r['fastq_mb'] / r['wall']:.1f} MB/s wall, "
          f"{per_core:.1f} MB/s per core" + (f" ({per_core / anchor_mb_s:.2f}x one decompression pass)"
                                             if anchor_mb_s else "")
          + f"; peak RSS +{r['peak_mib']:.0f} MiB")
    print(f"  {r['fingerprints']} fingerprints (1/{r['fp_scale']}), {r['kmers']} k-mers (1/{r['km_scale']}); "
          f"cache reuse {r['reuse_ms']:.0f} ms (cached={r['cached']}), with full MAC check of "
          f"{r['arrays_mib']:.0f} MiB of arrays {r['full_check_ms']:.0f} ms")
    print(f"  floor: {r['floor']}")


def main() -> None:
    if CHILD:
        _, run_dir, cache, workers = sys.argv[sys.argv.index("--child") + 1:]
        print(json.dumps(measure(Path(run_dir), Path(cache), int(workers), progress=sys.stderr.isatty())))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=1_000_000, help="reads in the simulated run (151 bp)")
    ap.add_argument("--keep", type=Path, help="simulate the run here (reused if present)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1],
                    help="build threads to time (default: 1 and one per core)")
    ap.add_argument("--before", type=Path, help="a checkout of older code (its kernels built) to time beside this one")
    ap.add_argument("--no-real", action="store_true", help="skip the real data folders")
    args = ap.parse_args()
    if args.before is not None and not (args.before / "sandbox" / "index" / "build.py").is_file():
        ap.exit(2, f"index_build.py: error: --before {args.before}: not a checkout of this project\n")
    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    base = args.keep or work / "run"
    run_dir = next(base.glob("*_M07011_*"), None) if base.is_dir() else None
    if run_dir is None:
        t = time.perf_counter()
        run_dir = simulate_run(base, args.reads)
        print(f"simulated {args.reads} reads in {time.perf_counter() - t:.1f} s at {run_dir}")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start")
    t = time.process_time()
    text = _decompress_all(run_dir)
    anchor = text / 1e6 / (time.process_time() - t)
    print(f"anchor: decompressing the FASTQ.gz once: {anchor:.0f} MB/s per core")
    codes = {"before": args.before.resolve(), "after": CODE} if args.before else {"after": CODE}
    results: dict[str, dict[int, dict]] = {name: {} for name in codes}
    for workers in args.workers:
        for name, code in codes.items():  # in turn: both see the same load
            results[name][workers] = r = measure_in_child(code, run_dir, work / "cache", workers)
            report(f"{name}: {run_dir.name} with {workers} thread(s)", r, anchor)
        if args.before:
            _compare(results["before"][workers], results["after"][workers])
    most = max(args.workers)
    for name in codes:
        r, runs = results[name][most], results[name]
        threads = (f"; {most} threads {runs[min(runs)]['wall'] / r['wall']:.2f}x the wall speed of {min(runs)}"
                   if len(runs) > 1 else "")
        print(f"{name}: 50M reads by extrapolation: {r['wall'] / r['reads'] * 50e6 / 60:.0f} min wall with {most} "
              f"thread(s), {r['cpu'] / r['reads'] * 50e6 / 60:.0f} CPU minutes; peak about the 10M figure (the "
              f"sets sample past their budgets){threads}")
    best = results["after"][most]
    per_core = best["fastq_mb"] / best["cpu"]
    peak = max(r["peak_mib"] for r in results["after"].values())
    print(f"targets: >= {TARGET_MB_S} MB/s per core: {'met' if per_core >= TARGET_MB_S else 'NOT met'} "
          f"({per_core:.1f}); peak <= {TARGET_PEAK_MIB} MiB: {'met' if peak <= TARGET_PEAK_MIB else 'NOT met'} "
          f"({peak:.0f}, {best['reads']} reads)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    if not args.no_real and SHARED.is_dir():
        folders = sorted(p for p in (SHARED / "illumina").iterdir() if p.is_dir())
        for folder in [*folders, SHARED / "nanopore", SHARED / "sequences"]:
            report(folder.name, measure(folder, work / "cache", None))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


def _compare(before: dict, after: dict) -> None:
    per_core = (after["fastq_mb"] / after["cpu"]) / (before["fastq_mb"] / before["cpu"])
    print(f"  after vs before: {per_core:.2f}x MB/s per core, {before['wall'] / after['wall']:.2f}x wall speed, "
          f"peak +{before['peak_mib']:.0f} -> +{after['peak_mib']:.0f} MiB; index "
          f"{'identical' if before['digest'] == after['digest'] else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
