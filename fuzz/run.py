"""Run the fuzz targets under atheris (libFuzzer), each for a bounded time, and print the figures.

    python -m fuzz.run [--seconds 60] [--targets parser-dns decoder-gzip] [--out out/fuzz]

Each target runs in its own process (libFuzzer ends the process when it is done) over a corpus
seeded at fuzz time (``fuzz/corpus.py``) and kept in ``OUT/corpus/TARGET`` between runs; a crash,
timeout or out-of-memory input lands in ``OUT/crashes/TARGET`` and makes the exit status 1.
``make fuzz`` installs atheris (the ``fuzz`` extra) and runs them all for ``FUZZ_SECONDS`` each.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "out" / "fuzz"
# libFuzzer options: inputs as large as a seed, a slow input is a hang past 30 s, memory as the
# hostile-load bar (2 GiB), no "slow unit" files (the first input pays for instrumenting imports),
# and final statistics to read the executions from.
LIBFUZZER = ["-max_len=65536", "-timeout=30", "-rss_limit_mb=2048", "-report_slow_units=1000000",
             "-print_final_stats=1"]
# What libFuzzer writes for a failing input (not "slow-unit-"): these make the run fail.
FAILURES = ("crash-*", "timeout-*", "oom-*", "leak-*")
_EXECS = re.compile(r"stat::number_of_executed_units:\s*(\d+)")


def fuzz_one(name: str, seconds: int, out: Path) -> None:
    """In this process: fuzz target ``name`` (never returns: libFuzzer exits)."""
    import atheris

    with atheris.instrument_imports(include=["sandbox"]):
        from fuzz.targets import TARGETS, slug
    target = TARGETS[name]
    crashes = out / "crashes" / slug(name)
    crashes.mkdir(parents=True, exist_ok=True)
    corpus = out / "corpus" / slug(name)
    corpus.mkdir(parents=True, exist_ok=True)
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", f"-artifact_prefix={crashes}/", *LIBFUZZER,
                   str(corpus), str(out / "seeds" / slug(name))], target.run)
    atheris.Fuzz()


def _failures(folder: Path) -> set[Path]:
    return {p for pattern in FAILURES for p in folder.glob(pattern)} if folder.is_dir() else set()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=60, help="fuzzing time per target (default 60)")
    p.add_argument("--targets", nargs="+", help="target names (default: all)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--one", help=argparse.SUPPRESS)   # the child process: fuzz this target
    args = p.parse_args(argv)
    if args.one:
        fuzz_one(args.one, args.seconds, args.out)
        return 0
    from fuzz.corpus import write_seeds
    from fuzz.targets import TARGETS, slug

    names = args.targets or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        p.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    figures = {}
    print(f"{'target':24} {'seeds':>6} {'seconds':>8} {'executions':>11} {'exec/s':>8} {'crashes':>8}", flush=True)
    for name in names:
        seeds = write_seeds(name, args.out / "seeds" / slug(name))
        crashes = args.out / "crashes" / slug(name)
        before = _failures(crashes)
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "fuzz.run", "--one", name, "--seconds", str(args.seconds),
                               "--out", str(args.out)], cwd=REPO, capture_output=True, text=True)
        wall = time.monotonic() - start
        m = _EXECS.search(proc.stderr)
        found = sorted(str(c) for c in _failures(crashes) - before)
        row = {"seeds": seeds, "seconds": round(wall, 1), "executions": int(m.group(1)) if m else 0,
               "crashes": found, "exit": proc.returncode}
        figures[name] = row
        (args.out / "logs").mkdir(parents=True, exist_ok=True)
        (args.out / "logs" / f"{slug(name)}.log").write_text(proc.stderr)
        print(f"{name:24} {seeds:6} {wall:8.1f} {row['executions']:11} {row['executions'] / wall:8.0f} "
              f"{len(found):8}", flush=True)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    total = sum(r["executions"] for r in figures.values())
    crashed = [n for n, r in figures.items() if r["crashes"] or r["exit"] not in (0,)]
    print(f"{len(figures)} targets, {total} executions, crashes in: {', '.join(crashed) or 'none'}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
