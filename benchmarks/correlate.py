"""Correlator throughput: scan() over ~50 MB of mixed views against a generated run's index.

    .venv/bin/python benchmarks/correlate.py [--mb 50] [--reads 200000]

Views: random binary (compressed uploads), JSON/log text, FASTA of an unrelated genome, and a few
leaked pieces of the run (FASTQ text, .gz bytes, reads as JSON); prints MB/s per view type and
overall, the findings, and the correlator's state size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.correlate import Correlator  # noqa: E402
from sandbox.index import build_index  # noqa: E402
from sandbox.model import Payload, View  # noqa: E402
from tests.index.genrun import make_run, random_genome  # noqa: E402

VIEW = 256 << 10  # bytes per view: a typical HTTP body / decoded part


def views_of(kind: str, total: int, rng: np.random.Generator, run) -> list[bytes]:
    out = []
    if kind == "binary":
        out = [rng.integers(0, 256, VIEW, dtype=np.uint8).tobytes() for _ in range(total // VIEW)]
    elif kind == "text":
        words = [b"status", b"ok", b"temperature", b"38.2", b"flowcell", b"cycle", b"error", b"tile", b"lane"]
        for _ in range(total // VIEW):
            picks = rng.integers(0, len(words), VIEW // 6)
            body = b" ".join(words[i] for i in picks)
            out.append(json.dumps({"log": body.decode(), "t": float(rng.random())}).encode()[:VIEW])
    elif kind == "dna":
        genome = random_genome(total, 99)
        out = [b">c\n" + b"\n".join(genome[i + j: i + j + 80] for j in range(0, VIEW, 80))
               for i in range(0, total - VIEW, VIEW)]
    elif kind == "leak":
        rel = next(iter(run.fastq.values()))
        raw = (run.path / rel).read_bytes()
        text = gzip.decompress(raw)
        reads = text.split(b"\n")[1::4][:2000]
        out = [text[i: i + VIEW] for i in range(0, min(len(text), total // 2), VIEW)]
        out += [raw[i: i + VIEW] for i in range(0, min(len(raw), total // 4), VIEW)]
        out.append(json.dumps({"reads": [r.decode() for r in reads]}).encode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--reads", type=int, default=200_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-corr-"))
    run = make_run(work / "run", samples=2, reads_per_sample=args.reads // 2, genome_size=2_000_000, seed=5)
    index = build_index(run.path, cache_dir=work / "cache")
    rng = np.random.default_rng(1)
    share = {"binary": 0.35, "text": 0.25, "dna": 0.25, "leak": 0.15}
    corr = Correlator([index], allow=["lims.lab.example"])
    total_bytes, total_time = 0, 0.0
    for kind, frac in share.items():
        data = views_of(kind, int(args.mb * frac * 2**20), rng, run)
        size = sum(map(len, data))
        t = time.perf_counter()
        for n, d in enumerate(data):
            p = Payload(d, ("tcp", "http/1.1 POST /x"), f"tcp 10.0.0.2:{4000 + n % 8} > 203.0.113.9:80", "out",
                        float(n), float(n), destination="upload.example")
            corr.scan(p, [View(d, p.chain)])
        took = time.perf_counter() - t
        total_bytes += size
        total_time += took
        print(f"{kind:7s} {size / 2**20:6.1f} MiB in {took:6.2f} s: {size / 2**20 / took:6.1f} MiB/s")
    print(f"overall {total_bytes / 2**20:6.1f} MiB in {total_time:6.2f} s: {total_bytes / 2**20 / total_time:.1f} MiB/s")
    findings = corr.findings()
    counts: dict[tuple[str, str], int] = {}
    for f in findings:
        counts[(f.severity, f.kind)] = counts.get((f.severity, f.kind), 0) + 1
    print("findings:", ", ".join(f"{n} {sev} {kind}" for (sev, kind), n in sorted(counts.items())))
    print("files matched:", ", ".join(sorted({m.path.rsplit("/", 1)[-1] for f in findings for m in f.files})))
    print(f"correlator state: {corr.state_bytes() / 1024:.0f} KiB for {len(findings)} findings")


if __name__ == "__main__":
    main()
