"""Correlator throughput per core: scan() of each kind of view against a generated run's index.

    .venv/bin/python benchmarks/correlate.py [--mb 24] [--reads 200000] [--json out.json]

Views of 256 KiB: random binary (compressed uploads), JSON/log text, FASTA of an unrelated genome
(DNA text), pieces of the run (FASTQ text, .gz bytes, reads as JSON: a leak), and the unfavourable
cases: bytes of four values only (every byte is read as bases, every way's form asked), the
repetitive ones (one letter, zero padding, a repeated log line), and for the run's VCF (a million
variants) text of numbers beside short letter runs: UUIDs, and another genome's variants as CSV
(every number is tried as a position, every letter run as an allele); the run's own variants as
JSON are a leak.  Each kind is timed in CPU
seconds of this process (so other work on the machine does not count against it) and wall seconds,
side by side with an anchor on the same bytes (sha1: one core's plain hashing speed here and now),
and the targets of issue 10 are printed next to the figures.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.correlate import Correlator  # noqa: E402
from sandbox.index import build_index  # noqa: E402
from sandbox.model import Payload, View  # noqa: E402
from tests.index.genrun import make_run, random_genome, random_variants, write_vcf  # noqa: E402

VIEW = 256 << 10  # bytes per view: a typical HTTP body / decoded part
VARIANTS = 1_000_000  # records of the run's VCF
TARGETS = {"binary": 300, "text": 150, "dna": 100}  # MB/s per core (issue 10)
ROUNDS = 3  # each kind is timed this many times; the best round counts (least disturbed)


def views_of(kind: str, total: int, rng: np.random.Generator, run) -> list[bytes]:
    count = max(1, total // VIEW)
    if kind == "binary":
        return [rng.integers(0, 256, VIEW, dtype=np.uint8).tobytes() for _ in range(count)]
    if kind == "text":
        words = [b"status", b"ok", b"temperature", b"38.2", b"flowcell", b"cycle", b"error", b"tile", b"lane"]
        out = []
        for _ in range(count):
            lines = []
            while sum(map(len, lines)) < VIEW:
                picks = rng.integers(0, len(words), 12)
                lines.append(json.dumps({"t": round(float(rng.random()) * 1e5, 3), "seq": int(rng.integers(1e6)),
                                         "log": b" ".join(words[i] for i in picks).decode()}).encode() + b"\n")
            out.append(b"".join(lines)[:VIEW])
        return out
    if kind == "dna":
        genome = random_genome(count * VIEW, 99)
        return [b">c\n" + b"\n".join(genome[i + j: i + j + 80] for j in range(0, VIEW - 400, 80))
                for i in range(0, count * VIEW, VIEW)]
    if kind == "leak":
        rel = next(iter(run.fastq.values()))
        raw = (run.path / rel).read_bytes()
        text = gzip.decompress(raw)
        reads = text.split(b"\n")[1::4][:1500]
        out = [text[i: i + VIEW] for i in range(0, min(len(text), total // 2), VIEW)]
        out += [raw[i: i + VIEW] for i in range(0, min(len(raw), total // 4), VIEW)]
        out.append(json.dumps({"reads": [r.decode() for r in reads]}).encode())
        return out
    if kind == "uuids":
        ids = (",".join(str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(VIEW // 37 + 1)).encode() for _ in range(count))
        return [i[:VIEW] for i in ids]
    if kind in ("variant-csv", "variant-leak"):
        pool = random_variants(count * VIEW // 16, 77) if kind == "variant-csv" else run.variants
        lines = [f"{c},{p},{r},{a}\n" if kind == "variant-csv" else
                 json.dumps({"chrom": c, "pos": p, "ref": r, "alt": a, "gt": "0/1"}) + "\n" for c, p, r, a in pool]
        text = "".join(lines).encode()
        return [text[i: i + VIEW] for i in range(0, min(len(text), total), VIEW)]
    if kind == "four-symbols":      # bases' worst case: every byte one of four, none the run's
        return [rng.integers(0, 4, VIEW, dtype=np.uint8).tobytes() for _ in range(count)]
    if kind == "one-letter":
        return [b"A" * VIEW for _ in range(count)]
    if kind == "zeros":
        return [bytes(VIEW) for _ in range(count)]
    if kind == "repeated-line":
        line = b'{"state":"Running","fluidics":"ok","cycle":42}\n'
        return [(line * (VIEW // len(line) + 1))[:VIEW] for _ in range(count)]
    raise ValueError(kind)


def _scan_all(corr: Correlator, views: list[bytes]) -> None:
    for n, d in enumerate(views):
        p = Payload(d, ("tcp", "http/1.1 POST /x"), f"tcp 10.0.0.2:{4000 + n % 8} > 203.0.113.9:80", "out",
                    float(n), float(n), destination="upload.example")
        corr.scan(p, [View(d, p.chain)])


def _timed(fn) -> tuple[float, float]:
    """Best (CPU seconds, wall seconds) of ROUNDS runs of fn()."""
    best = (float("inf"), float("inf"))
    for _ in range(ROUNDS):
        c, w = time.process_time(), time.perf_counter()
        fn()
        best = min(best, (time.process_time() - c, time.perf_counter() - w))
    return best


def _anchor(views: list[bytes]) -> None:
    for d in views:
        hashlib.sha1(d).digest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=24, help="MiB of views per kind")
    ap.add_argument("--reads", type=int, default=200_000)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-corr-"))
    run = make_run(work / "run", samples=2, reads_per_sample=args.reads // 2, genome_size=2_000_000, seed=5)
    run.variants = random_variants(VARIANTS, 5)
    write_vcf(run.path / "PT1000-Biopsy.vcf", run.variants, "PT1000-Biopsy")
    index = build_index(run.path, cache_dir=work / "cache")
    rng = np.random.default_rng(1)
    kinds = ["binary", "text", "dna", "leak", "four-symbols", "one-letter", "zeros", "repeated-line", "uuids",
             "variant-csv", "variant-leak"]
    corr = Correlator([index], allow=["lims.lab.example"])
    _scan_all(corr, views_of("leak", VIEW, rng, run)[:1] + views_of("dna", VIEW, rng, run))  # lookup tables built
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} at start; "
          f"index: {len(index.km)} k-mers, {len(index.fp_hash)} fingerprints, {index.variants} variant records")
    print(f"{'views':14} {'MiB':>5} {'CPU MB/s':>9} {'wall MB/s':>9} {'sha1 MB/s':>9} {'x sha1':>7}  target")
    figures = {}
    for kind in kinds:
        views = views_of(kind, args.mb << 20, rng, run)
        size = sum(map(len, views))
        cpu, wall = _timed(lambda views=views: _scan_all(Correlator([index]), views))
        a_cpu, _ = _timed(lambda views=views: _anchor(views))
        row = {"mb": size / 1e6, "cpu_mb_s": size / cpu / 1e6, "wall_mb_s": size / wall / 1e6,
               "sha1_mb_s": size / a_cpu / 1e6, "x_sha1": a_cpu / cpu}
        figures[kind] = row
        target = TARGETS.get(kind)
        verdict = "" if target is None else f">= {target} MB/s per core: {'met' if row['cpu_mb_s'] >= target else 'NOT met'}"
        print(f"{kind:14} {size / 2**20:5.0f} {row['cpu_mb_s']:9.0f} {row['wall_mb_s']:9.0f} {row['sha1_mb_s']:9.0f} "
              f"{row['x_sha1']:7.2f}  {verdict}")
    slow = max(figures[k]["cpu_mb_s"] for k in ("one-letter", "zeros", "repeated-line"))
    print(f"repetitive vs random: slowest repetitive {min(figures[k]['cpu_mb_s'] for k in ('one-letter', 'zeros', 'repeated-line')):.0f} "
          f"MB/s, random {figures['binary']['cpu_mb_s']:.0f} MB/s (fastest repetitive {slow:.0f})")
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    _scan_all(corr, views_of("leak", 4 << 20, rng, run) + views_of("variant-leak", 1 << 20, rng, run))
    findings = corr.findings()
    counts: dict[tuple[str, str, str], int] = {}
    for f in findings:
        key = (f.severity, f.kind, "+".join(f.evidence_kinds))
        counts[key] = counts.get(key, 0) + 1
    print("findings of the leak views:", ", ".join(f"{n} {sev} {kind} ({kinds})" for (sev, kind, kinds), n in sorted(counts.items())))
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "kinds": figures}, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
