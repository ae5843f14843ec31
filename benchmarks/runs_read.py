"""FASTQ.gz read speed of sandbox.runs: reads/s and MB/s on a generated ~100 MB FASTQ.gz.

    .venv/bin/python benchmarks/runs_read.py [--mb 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from isal import igzip

from sandbox.runs import scan_run

READ_LEN = 150


def generate(path: Path, target_mb: float, seed: int = 1) -> int:
    """Write random 150 bp Illumina-like records until the .gz reaches ``target_mb``; returns reads."""
    rng = np.random.default_rng(seed)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    quals = np.frombuffer(b"FFFF:,", dtype=np.uint8)
    n, batch = 0, 20_000
    with igzip.open(path, "wb", compresslevel=1) as out:
        while path.stat().st_size < target_mb * 1e6:
            seq = bases[rng.integers(0, 4, (batch, READ_LEN))]
            qual = quals[rng.integers(0, 6, (batch, READ_LEN))]
            recs = [b"@A00103:49:H2CLFDMXX:1:1101:%d:1 1:N:0:ACGT\n%s\n+\n%s\n" % (n + i, s.tobytes(), q.tobytes())
                    for i, (s, q) in enumerate(zip(seq, qual, strict=True))]
            out.write(b"".join(recs))
            n += batch
            out.flush()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=100.0, help="compressed size to generate")
    ap.add_argument("--keep", type=Path, help="directory to keep the generated run in")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp)
        run.mkdir(parents=True, exist_ok=True)
        path = run / "Bench_S1_L001_R1_001.fastq.gz"
        n = generate(path, args.mb)
        size = path.stat().st_size
        (f,) = scan_run(run).files
        raw = sum(len(b) for b in f.decoded())
        print(f"file: {size / 1e6:.1f} MB gz, {raw / 1e6:.1f} MB FASTQ, {n} reads of {READ_LEN} bp")
        for name, count in (("reads()", lambda: sum(1 for _ in f.reads())),
                            ("read_batches()", lambda: sum(len(b) for b in f.read_batches())),
                            ("decoded()", lambda: sum(1 for _ in f.decoded()) and n)):
            wall, cpu = time.perf_counter(), time.process_time()
            got = count()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert got == n and not f.errors, (got, n, f.errors)
            # CPU time too: on a shared machine wall time mostly measures the neighbours
            for label, dt in (("wall", wall), ("cpu", cpu)):
                print(f"{name:15s} {label}: {n / dt:>9,.0f} reads/s  {size / 1e6 / dt:6.1f} MB/s gz  "
                      f"{raw / 1e6 / dt:6.1f} MB/s FASTQ  ({dt:.2f} s)")


if __name__ == "__main__":
    main()
