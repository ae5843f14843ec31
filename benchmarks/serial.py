"""Serial bridge: sustained throughput, bytes lost and added latency per chunk, one line and four at
once, with the live session correlating; side by side with the anchor, a bare socat PTY cable.

    .venv/bin/python benchmarks/serial.py [--mb 8] [--pings 300]

Lines are socat PTY pairs (no baud limit: the bridge's own ceiling is what is measured; a real
921600-baud line carries ~0.09 MB/s).  Throughput: FASTQ text of the demo run (so the session has
matching to do) written as fast as the line takes it; lost: bytes the host end or the recording
lacks; latency: a 64-byte chunk written on the instrument end until the host end has it, median and
99th percentile (the unfavourable case: small chunks one at a time); finding latency: leaking bytes
written until a finding is in the store, after a quiet line (the worst case: idle flush).
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.captures import open_capture  # noqa: E402
from sandbox.simulate import ensure_demo  # noqa: E402
from tests.serialpty import Cable, open_end, read_exactly, serial_bench, write_all  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHUNK = 4096


def payload(run_dir: Path, size: int) -> bytes:
    text = b"".join(gzip.decompress(p.read_bytes()) for p in sorted((run_dir / "Data/Intensities/BaseCalls")
                                                                     .glob("PT*_R1_001.fastq.gz")))
    return (text * (size // len(text) + 1))[:size]


def pump(src: int, dst: int, data: bytes) -> tuple[float, bytes]:
    """Write ``data`` on ``src`` in CHUNK writes while ``dst`` reads it; seconds and what arrived."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_exactly(dst, len(data), 600)))
    t0 = time.perf_counter()
    reader.start()
    for i in range(0, len(data), CHUNK):
        write_all(src, data[i:i + CHUNK])
    reader.join()
    return time.perf_counter() - t0, got[0]


def pings(src: int, dst: int, n: int) -> list[float]:
    out = []
    for i in range(n):
        msg = (b"%06d" % i) * 10 + b"ping"
        t0 = time.perf_counter()
        write_all(src, msg)
        read_exactly(dst, len(msg), 30)
        out.append(time.perf_counter() - t0)
        time.sleep(0.002)
    return out


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def anchor(data: bytes, n: int) -> tuple[float, list[float]]:
    folder = Path(tempfile.mkdtemp(prefix="sbx-serial-bench-", dir="/tmp"))
    cable = Cable(folder / "a", folder / "b")
    try:
        a, b = open_end(folder / "a"), open_end(folder / "b")
        secs, got = pump(a, b, data)
        assert got == data
        return secs, pings(a, b, n)
    finally:
        cable.unplug()
        shutil.rmtree(folder, ignore_errors=True)


class Watch:
    def __init__(self, run_dir: Path, tmp: Path, specs: list[str]) -> None:
        self.db, self.rec = tmp / "store.sqlite", tmp / "rec"
        argv = [sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run_dir), "--db", str(self.db),
                "--record", str(self.rec), "--cache-dir", str(tmp / "cache"), "--quiet"]
        for spec in specs:
            argv += ["--serial", spec]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not (self.rec / "serial.pcapng").exists():
            if self.proc.poll() is not None:
                raise SystemExit(self.proc.stderr.read().decode())
            time.sleep(0.05)
        time.sleep(1.0)

    def newest(self) -> float:
        """Capture time of the newest leaking bytes any stored finding has seen."""
        try:
            con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
            try:
                return con.execute("SELECT max(t_last) FROM findings WHERE severity_rank >= 2").fetchone()[0] or 0.0
            finally:
                con.close()
        except sqlite3.OperationalError:
            return 0.0

    def end(self) -> dict[str, bytes]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(600)
        out: dict[str, bytes] = {}
        for seg in open_capture(self.rec / "serial.pcapng"):
            if seg.data and seg.meta["direction"] == "out":
                out[seg.src] = out.get(seg.src, b"") + seg.data
        return out


def bridged(run_dir: Path, data: bytes, lines: int, n: int) -> dict:
    with serial_bench(lines=lines) as bench, tempfile.TemporaryDirectory(prefix="sbx-serial-bench-") as tmp:
        watch = Watch(run_dir, Path(tmp), [line.spec("921600") for line in bench.lines])
        ends = [(open_end(line.instrument_end), open_end(line.host_end)) for line in bench.lines]
        finding = []
        sent = [len(data) + n * 64]     # what line 0's instrument end writes in all
        if lines == 1:               # first, on a quiet session: leaking bytes until a finding has them
            for k in range(5):
                time.sleep(1.5)
                leak = payload(run_dir, 3000 * (k + 2))[-3000:]
                t1 = time.time()
                write_all(ends[0][0], leak)
                sent[0] += len(leak)
                read_exactly(ends[0][1], len(leak), 30)
                while watch.newest() < t1 and time.time() - t1 < 30:
                    time.sleep(0.005)
                finding.append(time.time() - t1)
        results: list[tuple[float, bytes]] = [(0.0, b"")] * lines
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, pump(*ends[i], data)))
                   for i in range(lines)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        lat = pings(*ends[0], n)
        recorded = watch.end()
        lost_host = sum(len(data) - sum(a == b for a, b in zip(got, data, strict=False)) for _, got in results)
        # the recording must hold each line's bytes, in order (line 0 also had the leaks and pings)
        lost_rec = 0
        for i, line in enumerate(bench.lines):
            rec = recorded.get(str(line.rig_host), b"")
            at = rec.find(data)
            lost_rec += len(data) if at < 0 else 0
            lost_rec += 0 if i else sent[0] - len(rec)
        return {"wall": wall, "secs": [s for s, _ in results], "lat": lat, "lost_host": lost_host,
                "lost_rec": lost_rec, "finding": finding}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=8.0, help="MB written through each line")
    p.add_argument("--pings", type=int, default=300, help="64-byte chunks timed one at a time")
    args = p.parse_args()
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    data = payload(run_dir, int(args.mb * (1 << 20)))
    mb = len(data) / (1 << 20)
    a_secs, a_lat = anchor(data, args.pings)
    one = bridged(run_dir, data, 1, args.pings)
    four = bridged(run_dir, data, 4, args.pings)
    print(f"{'':28} {'MB/s per line':>14} {'MB/s total':>11} {'lat p50 ms':>11} {'lat p99 ms':>11} {'lost':>6}")
    print(f"{'anchor: socat PTY cable':28} {mb / a_secs:14.2f} {mb / a_secs:11.2f} "
          f"{statistics.median(a_lat) * 1e3:11.3f} {pct(a_lat, 0.99) * 1e3:11.3f} {'-':>6}")
    for name, r in (("one bridged line", one), ("four bridged lines", four)):
        per = statistics.mean(mb / s for s in r["secs"])
        print(f"{name:28} {per:14.2f} {mb * len(r['secs']) / r['wall']:11.2f} "
              f"{statistics.median(r['lat']) * 1e3:11.3f} {pct(r['lat'], 0.99) * 1e3:11.3f} "
              f"{r['lost_host'] + r['lost_rec']:6d}")
    print(f"ratio one line / anchor: throughput {a_secs / one['secs'][0]:.2f}x, added latency per chunk "
          f"{(statistics.median(one['lat']) - statistics.median(a_lat)) * 1e3:.3f} ms (p50), "
          f"{(pct(one['lat'], 0.99) - pct(a_lat, 0.99)) * 1e3:.3f} ms (p99)")
    print(f"921600 baud needs 0.09 MB/s per line: headroom {min(one['secs'][0], *four['secs']) and mb / max(four['secs']) / 0.0879:.0f}x "
          "on four lines at once")
    print("finding in the store after leaking bytes on a quiet line: "
          + ", ".join(f"{s:.2f} s" for s in one["finding"]))


if __name__ == "__main__":
    main()
