"""Hostile load: wall time and peak memory of ``sandbox replay`` per hostile input, and whether the
leak sent after the hostile part is still found.

Cases (``sandbox.simulate.load.CASES``): 1M SYN-only flows, 200k DNS queries under one zone (each
from a new source port), DNS exfiltration of reads at 5k/10k/20k queries, a 1 MB gzip bomb (1 GiB of
zeros) without Content-Encoding and a ~26 KB nested zip bomb (16 TiB), 100k QUIC Initials, a 50 MB
upload whose every segment is sent first with other bytes (read twice); each capture ends with the
same plain upload of run reads.  The anchor is that upload alone, so every row is also a ratio to it.
The bar (issue 7): at most 60 s and 2 GiB per case, and the leak still found.  CPU seconds (user +
system, children included) are printed beside wall time: on a shared machine they move less.

    python benchmarks/hostile.py [--cases syn-flood-1M dns-exfil-20k] [--workdir DIR] [--timeout 900]
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox.simulate.load import CASES, EXFIL_ZONE, LEAK_HOST, write_case  # noqa: E402
from sandbox.simulate.runfolder import make_illumina_run  # noqa: E402

TIME = "/usr/bin/time"
_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_CPU = re.compile(r"(?:User|System) time \(seconds\): ([\d.]+)")
BAR_SECONDS, BAR_RSS_MB = 60.0, 2048.0  # issue 7: what each hostile case may cost at most
CONTENT_KINDS = ("run-bytes", "sequence")


def replay(capture: Path, run: Path, workdir: Path, timeout: float) -> dict:
    """Run ``sandbox replay`` under ``/usr/bin/time -v``: wall, peak RSS, and what the report says."""
    report, db = workdir / f"{capture.stem}.json", workdir / f"{capture.stem}.sqlite"
    for stale in (report, db):
        stale.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "sandbox.cli", "replay", str(capture), "--run", str(run), "--cache-dir",
            str(workdir / "index-cache"), "--report", str(report), "--db", str(db), "--quiet"]
    start = time.perf_counter()
    try:
        proc = subprocess.run([TIME, "-v", *argv], capture_output=True, text=True, timeout=timeout, cwd=Path.cwd())
    except subprocess.TimeoutExpired:
        return {"seconds": timeout, "timeout": True}
    row: dict = {"seconds": time.perf_counter() - start, "exit": proc.returncode}
    m = _RSS.search(proc.stderr)
    row["peak_rss_mb"] = int(m.group(1)) / 1024 if m else float("nan")
    row["cpu_seconds"] = sum(float(x) for x in _CPU.findall(proc.stderr))  # robust to a busy machine
    if not report.is_file():
        row["error"] = proc.stderr.strip().splitlines()[-1:] or ["no report"]
        return row
    doc = json.loads(report.read_text())
    found = [f for f in doc["findings"] if f["kind"] in CONTENT_KINDS and f["severity"] in ("high", "critical")]
    row["leak_found"] = any(f["destination"] == LEAK_HOST for f in found)
    row["exfil_found"] = any(EXFIL_ZONE in f["destination"] for f in found)
    row["findings"] = len(doc["findings"])
    row["error_rows"] = len(doc["errors"])
    row["report_mb"] = report.stat().st_size / 1e6
    with sqlite3.connect(db) as con:
        row["store_flows"] = con.execute("SELECT count(*) FROM flows").fetchone()[0]
    row["store_mb"] = sum(p.stat().st_size for p in workdir.glob(f"{db.name}*")) / 1e6
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sandbox-hostile")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per replay before it is stopped")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs = args.workdir / "runs"
    run = next(runs.glob("*_M07011_*"), None) if runs.is_dir() else None
    if run is None:
        run = make_illumina_run(runs, seed=7, reads_per_sample=4000)
    cases = ["anchor", *[c for c in args.cases if c != "anchor"]]
    figures: dict[str, dict] = {}
    print(f"{'case':24} {'capture':>9} {'wall s':>8} {'cpu s':>7} {'x anchor':>8} {'peak MB':>8} {'leak':>5} {'exfil':>5} "
          f"{'errors':>7} {'report MB':>9} {'store MB':>8} {'flows':>7}  bar")
    for name in cases:
        capture = args.workdir / f"{name}.pcap"
        if not capture.is_file():
            write_case(name, capture, run)
        row = replay(capture, run, args.workdir, args.timeout)
        row["capture_mb"] = capture.stat().st_size / 1e6
        figures[name] = row
        anchor = figures["anchor"]["seconds"]
        ok = (not row.get("timeout") and row["seconds"] <= BAR_SECONDS and row["peak_rss_mb"] <= BAR_RSS_MB
              and row.get("leak_found"))
        wall = f"{'>' if row.get('timeout') else ''}{row['seconds']:.1f}"
        print(f"{name:24} {row['capture_mb']:7.1f}MB {wall:>8} {row.get('cpu_seconds', float('nan')):7.1f} "
              f"{row['seconds'] / anchor:8.1f} "
              f"{row.get('peak_rss_mb', float('nan')):8.0f} {str(row.get('leak_found', '-')):>5} "
              f"{str(row.get('exfil_found', '-')) if 'exfil' in name else '-':>5} {row.get('error_rows', '-'):>7} "
              f"{row.get('report_mb', float('nan')):9.2f} {row.get('store_mb', float('nan')):8.1f} "
              f"{row.get('store_flows', '-'):>7}  {'ok' if ok else 'FAIL'}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
