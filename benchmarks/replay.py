"""Replay throughput: our ``sandbox replay`` against ``tshark --export-objects http`` on one capture.

Builds (once, in --workdir) a simulated run folder and a >= 200 MB mixed capture, warms the run
index, then times both tools on the same file: wall time, MB/s and peak RSS (``/usr/bin/time -v``,
which follows child processes), and prints the ratio.

    python benchmarks/replay.py [--size-mb 200] [--workdir /tmp/sandbox-bench] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from gen_mixed_capture import generate  # noqa: E402

from sandbox.simulate.runfolder import make_illumina_run  # noqa: E402

TIME = "/usr/bin/time"
_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def timed(argv: list[str], ok: tuple[int, ...] = (0,)) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) of a command and its children."""
    wrapped = [TIME, "-v", *argv] if Path(TIME).exists() else argv
    start = time.perf_counter()
    proc = subprocess.run(wrapped, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(argv[:4])}... exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    m = _RSS.search(proc.stderr)
    return {"seconds": wall, "peak_rss_mb": int(m.group(1)) / 1024 if m else float("nan")}


def prepare(workdir: Path, size_mb: int) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    runs = workdir / "runs"
    run = next(runs.glob("*_M07011_*"), None) if runs.is_dir() else None
    if run is None:
        run = make_illumina_run(runs, seed=1, reads_per_sample=2000)
    capture = workdir / f"mixed-{size_mb}mb.pcap"
    if not capture.is_file():
        stats = generate(capture, size=size_mb << 20, run=run)
        print(f"generated {capture}: {stats['bytes'] / 1e6:.0f} MB, {stats['packets']} packets, "
              f"{stats['flows']} flows in {stats['seconds']:.1f} s")
    return run, capture


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=200)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sandbox-bench")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if shutil.which("tshark") is None:
        raise SystemExit("tshark not installed")
    run, capture = prepare(args.workdir, args.size_mb)
    mb = capture.stat().st_size / 1e6
    cache = args.workdir / "index-cache"
    py = sys.executable
    subprocess.run([py, "-m", "sandbox.cli", "index", str(run), "--cache-dir", str(cache), "--quiet"], cwd=REPO,
                   check=True, capture_output=True)
    ours = timed([py, "-m", "sandbox.cli", "replay", str(capture), "--run", str(run), "--cache-dir", str(cache),
                  "--report", str(args.workdir / "report.json"), "--quiet"], ok=(0, 1))
    objects = args.workdir / "tshark-objects"
    shutil.rmtree(objects, ignore_errors=True)
    objects.mkdir()
    theirs = timed(["tshark", "-r", str(capture), "-q", "--export-objects", f"http,{objects}"])
    shutil.rmtree(objects, ignore_errors=True)
    report = json.loads((args.workdir / "report.json").read_text())
    figures = {
        "capture_mb": round(mb, 1),
        "sandbox": {**ours, "mb_per_s": mb / ours["seconds"], "findings": len(report["findings"])},
        "tshark_export_objects": {**theirs, "mb_per_s": mb / theirs["seconds"]},
        "speed_ratio": theirs["seconds"] / ours["seconds"],
    }
    print(f"capture: {capture} ({mb:.0f} MB)")
    for name, row in (("sandbox replay", figures["sandbox"]), ("tshark export", figures["tshark_export_objects"])):
        print(f"{name:15} {row['seconds']:7.1f} s  {row['mb_per_s']:7.1f} MB/s  peak RSS {row['peak_rss_mb']:7.0f} MB")
    print(f"ratio (ours / tshark throughput): {figures['speed_ratio']:.2f}x; findings: {len(report['findings'])}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
