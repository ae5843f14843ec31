"""Live session: how long after the leaking bytes reach the recording a finding is in the store.

Plays the demo capture (a simulated instrument: a diagnostics upload, DNS exfiltration, a read in
JSON, an opaque TLS upload, benign traffic) into a recording at ``--speed``, while
``sandbox watch --follow`` follows it, and polls the store.  For each finding: the capture time of
its last leaking packet (= when the player wrote it) against when the finding first showed in the
store with that ``t_last``.  Then the recording is replayed and the findings compared (live = replay).
The anchor is the target from the issue (under 1 s), printed beside the figures.

    python benchmarks/live_latency.py [--speed 5] [--workdir /tmp/sandbox-live-bench]
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox.simulate import ensure_demo  # noqa: E402
from sandbox.simulate.playback import play  # noqa: E402

TARGET_S = 1.0
ALLOW = ["lims.lab.example", "198.51.100.10"]


def first_seen(db: Path, stop: threading.Event, seen: dict[tuple[str, float], float]) -> None:
    """Record when each (finding, t_last) first appears in the store."""
    while not stop.is_set():
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            rows = con.execute("SELECT id, t_last, severity FROM findings").fetchall()
            con.close()
        except sqlite3.Error:
            rows = []
        now = time.time()
        for fid, t_last, _ in rows:
            seen.setdefault((fid, t_last), now)
        time.sleep(0.01)


def session_started(db: Path) -> bool:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return bool(con.execute("SELECT 1 FROM session WHERE key = 'live'").fetchall())
        finally:
            con.close()
    except sqlite3.Error:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed", type=float, default=5.0, help="play the 74 s demo this many times faster")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "sandbox-live-bench")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    run_dir, capture = ensure_demo(REPO / "captures" / "demo")
    live, db = args.workdir / "live.pcapng", args.workdir / "store.sqlite"
    for stale in (live, db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    report = args.workdir / "live.json"
    watch = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run_dir), "--follow",
                              str(live), "--db", str(db), "--report", str(report), "--quiet", "--allow", *ALLOW,
                              "--record", str(args.workdir / "rec"), "--cache-dir", str(args.workdir / "cache")],
                             cwd=REPO)
    while not session_started(db):      # the session has its store and follows the recording
        time.sleep(0.05)
    seen: dict[tuple[str, float], float] = {}
    stop = threading.Event()
    poller = threading.Thread(target=first_seen, args=(db, stop, seen), daemon=True)
    poller.start()
    started = time.time()
    packets = play(capture, live, speed=args.speed)
    played = time.time() - started
    time.sleep(3.0)
    stop.set()
    poller.join()
    watch.send_signal(signal.SIGTERM)
    watch.wait(120)
    latencies = {}
    for (fid, t_last), at in seen.items():
        latencies[fid] = max(latencies.get(fid, 0.0), at - t_last)   # the finding's final t_last counts
    findings = json.loads(report.read_text())["findings"]
    by_id = {f["id"]: f for f in findings}
    print(f"played {packets} packets in {played:.1f} s (speed {args.speed}x); {len(findings)} findings")
    print(f"{'kind':14} {'severity':9} {'latency s':>9}   (target < {TARGET_S} s after the last leaking byte)")
    for fid, lat in sorted(latencies.items(), key=lambda kv: kv[1]):
        f = by_id.get(fid)
        if f is not None:
            print(f"{f['kind']:14} {f['severity']:9} {lat:9.3f}")
    for fid, f in by_id.items():
        if fid not in latencies:
            print(f"{f['kind']:14} {f['severity']:9} {'at end':>9}   (not in the store while the session ran)")
    content = [lat for fid, lat in latencies.items() if fid in by_id
               and by_id[fid]["kind"] in ("run-bytes", "sequence", "identifier", "dns-tunnel")]
    if content:
        print(f"content findings: median {statistics.median(content):.3f} s, max {max(content):.3f} s "
              f"= {max(content) / TARGET_S:.2f}x the target")
    replayed = args.workdir / "replay.json"
    subprocess.run([sys.executable, "-m", "sandbox.cli", "replay", str(live), "--run", str(run_dir), "--report",
                    str(replayed), "--quiet", "--allow", *ALLOW, "--cache-dir", str(args.workdir / "cache")],
                   cwd=REPO)

    def essence(doc: dict) -> list:
        return sorted((f["kind"], f["severity"], f["destination"], tuple(f["samples"]),
                       tuple(m["path"] for m in f["files"])) for f in doc["findings"])

    same = essence(json.loads(replayed.read_text())) == essence(json.loads(report.read_text()))
    print(f"live findings == replay of the recording: {same}")


if __name__ == "__main__":
    main()
