"""The network tap under load: a large HTTPS upload through mitmproxy alone, then through the rig
(mitmproxy + our addon + dumpcap + the live session correlating), side by side in one run.

Prints: upload MB/s through mitmproxy alone, through the tap recording only, and through the rig
analysing live, with the overhead against mitmproxy alone (target at most 10%); whether the recording is
complete at that rate (dumpcap's drops, and the client's TCP stream in the pcapng without a hole);
how long after the upload's last byte the leak it ends with is in the store (the unfavourable case:
the run data comes last, after MB of other bytes the correlator must get through first); the same
for a small leak on an idle rig, and for a leak ending a body of exactly one body piece (64 MB: the
session hands a body over in pieces, so all of that one is matched after its last byte); target
under 1 s.

    .venv/bin/python benchmarks/net_tap.py [--mb 200] [--rounds 5] [--rate 125M] [--record-dir /dev/shm]
                                           [--content random|ndjson]

``--content ndjson`` puts telemetry text before the run data instead of random bytes: text is the
analysis' slower case (its decoders look into it).

The recordings go to a temporary directory on the disk by default, and the disk's sustained write rate
is measured and printed first: a rig whose disk writes slower than the instrument sends cannot keep
the recording (on this VM's virtual disk, ~115 MB/s, the page cache's writeback stalls the whole
machine).  ``--record-dir /dev/shm`` measures the rig's own cost apart from the disk.

The three run side by side and take turns, upload after upload (a shared machine's load then weighs
on each alike); medians are printed, with the CPU seconds each part used.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw.net.ca import ensure_ca  # noqa: E402
from hw.net.mitm import STREAM_LARGE_BODIES, mitmdump  # noqa: E402
from hw.net.tap import NetTap  # noqa: E402
from sandbox.captures import open_capture  # noqa: E402
from sandbox.protocols.sinks import MAX_BODY_PIECE  # noqa: E402
from sandbox.simulate import ensure_demo  # noqa: E402
from tests.hw.net.servers import https_sink, make_pki  # noqa: E402

WAIT_S = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"proxy did not start: {proc.args}") from None
            time.sleep(0.2)


def upload(path: Path, url: str, port: int, ca: Path, rate: str = "") -> tuple[float, float]:
    """curl -T through the proxy (at most ``rate`` bytes/s, curl's units, when given); (seconds, time its
    last byte was answered)."""
    t0 = time.monotonic()
    subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-T", str(path), "--proxy", f"http://127.0.0.1:{port}",
                    "--cacert", str(ca), *(["--limit-rate", rate] if rate else []), url], check=True, timeout=WAIT_S)
    t1 = time.monotonic()
    return t1 - t0, time.time()


def filler(rng: np.random.Generator, size: int, content: str) -> bytes:
    """``size`` bytes of random data, or of NDJSON telemetry an instrument could send (numbers vary)."""
    if content == "random":
        return rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    lines, n = [], 0
    cycles, tiles, temps = rng.integers(1, 320, size // 100), rng.integers(1101, 2119, size // 100), rng.normal(30, 2, size // 100)
    while n < size:
        i = len(lines) % len(cycles)
        line = (f'{{"seq":{len(lines)},"state":"Running","cycle":{cycles[i]},"tile":{tiles[i]},'
                f'"temp":{temps[i]:.3f},"fluidics":"ok"}}\n').encode()
        lines.append(line)
        n += len(line)
    return b"".join(lines)[:size]


def store_rows(db: Path, sql: str) -> list[tuple]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:
        return []


def wait_started(db: Path, rig: subprocess.Popen, timeout: float = 300) -> None:
    """Until the rig's session is live in its store (exits when the rig ends or the wait is over)."""
    deadline = time.monotonic() + timeout
    while not store_rows(db, "SELECT value FROM session WHERE key = 'live'"):
        if rig.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the rig did not start")
        time.sleep(0.2)


def finding_latency(db: Path, path_label: str, t_end: float) -> float:
    """Seconds from ``t_end`` to the first high finding whose chain names ``path_label``."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for (chain,) in store_rows(db, "SELECT chain FROM findings WHERE severity_rank >= 3"):
            if path_label in chain:
                return time.time() - t_end
        time.sleep(0.02)
    return float("nan")


def recording_complete(pcap: Path, proxy_port: int) -> tuple[int, int, int]:
    """(client payload bytes recorded, sum over its connections of their sequence spans, drops):
    equal when the client's streams are in the recording without a hole."""
    cap = open_capture(pcap)
    got = 0
    spans: dict[int, list[int]] = {}           # client port -> [first seq, bytes past it seen]
    for seg in cap:
        if seg.transport == "tcp" and seg.dport == proxy_port and seg.data:
            got += len(seg.data)
            span = spans.setdefault(seg.sport, [seg.seq, 0])
            span[1] = max(span[1], (seg.seq - span[0]) % (1 << 32) + len(seg.data))
    return got, sum(s[1] for s in spans.values()), cap.stats.drops


class Cpu:
    """CPU seconds (user + system) a process and its children used between two readings."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)

    def read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
                name = " ".join(p.cmdline()[:3])
            except psutil.Error:
                continue
            kind = ("mitmproxy" if "mitmdump" in name else "dumpcap" if "dumpcap" in name
                    else "analysis" if "sandbox" in name or "python" in name else p.name())
            out[kind] = out.get(kind, 0.0) + t.user + t.system
        return out


def disk_write_rate(where: Path, mb: int = 1000) -> float:
    """MB/s of a sustained write to ``where``, through the page cache to the disk (fsync at the end)."""
    probe = where / "disk-probe.bin"
    chunk = bytes(1 << 20)
    os.sync()
    t0 = time.perf_counter()
    with open(probe, "wb") as f:
        for _ in range(mb):
            f.write(chunk)
        os.fsync(f.fileno())
    secs = time.perf_counter() - t0
    probe.unlink()
    return mb * (1 << 20) / 1e6 / secs


def machine_busy() -> tuple[float, float]:
    """CPU seconds every core spent on anything but idle since boot, and those a VM's host took from
    it (steal: a round where the host took much was slowed by something else than what it measures)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:7]) - fields[3] - fields[4]) / tick, fields[7] / tick


def timed(body: Path, url: str, port: int, ca: Path, cpu: list[Cpu], rate: str) -> tuple[float, float, dict]:
    """One upload; (seconds, time.time() at its end, CPU seconds per part during it, the whole machine's
    under "machine": client, server and all)."""
    before = [c.read() for c in cpu]
    busy, steal = machine_busy()
    secs, t_end = upload(body, url, port, ca, rate)
    busy_after, steal_after = machine_busy()
    used: dict[str, float] = {"machine": busy_after - busy, "steal": steal_after - steal}
    for b, c in zip(before, cpu, strict=True):
        for k, v in c.read().items():
            used[k] = used.get(k, 0.0) + v - b.get(k, 0.0)
    return secs, t_end, used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5, help="uploads through each, interleaved (medians printed)")
    ap.add_argument("--rate", default="", help="the client's rate limit (curl --limit-rate, e.g. 125M for a "
                    "saturated 1 Gbit/s link); default: as fast as loopback goes, the unfavourable case")
    ap.add_argument("--record-dir", type=Path, default=None,
                    help="where the recordings go (default: a temporary directory on the disk; /dev/shm: apart "
                    "from the disk)")
    ap.add_argument("--content", choices=("random", "ndjson"), default="random",
                    help="what comes before the run data: random bytes (incompressible, an archive or an image) or "
                    "NDJSON telemetry lines (text: the analysis' slower case)")
    ap.add_argument("--keep", action="store_true", help="keep the recordings, store and logs (their directory is printed)")
    args = ap.parse_args()
    run_dir, _ = ensure_demo(ROOT / "captures" / "demo")
    tmp = Path(tempfile.mkdtemp(prefix="sbx-net-bench-"))
    records = Path(tempfile.mkdtemp(prefix="sbx-net-bench-rec-", dir=args.record_dir))
    pki = make_pki(tmp / "pki", ["localhost", "127.0.0.1"])
    server, received = https_sink(pki)
    received.add = lambda body: None       # the server keeps nothing: rounds of 200 MB would add up
    url = f"https://localhost:{server.server_address[1]}"
    leak = gzip.decompress(next((run_dir / "Data/Intensities/BaseCalls").glob("PT9936*.fastq.gz")).read_bytes())
    body = tmp / "upload.bin"
    rng = np.random.default_rng(11)
    with open(body, "wb") as f:        # other bytes first, the run data last: the unfavourable case
        for _ in range(args.mb):
            f.write(filler(rng, 1 << 20, args.content))
        f.write(leak)
    small = tmp / "small.fastq"
    small.write_bytes(leak)
    one_piece = tmp / "one-piece.bin"      # the leak ends a body of exactly one piece: all of it waits
    with open(one_piece, "wb") as f:
        f.write(filler(rng, MAX_BODY_PIECE - len(leak), args.content))
        f.write(leak)
    size_mb = body.stat().st_size / 1e6
    print(f"recordings in {records}: the disk under it writes {disk_write_rate(records):.0f} MB/s sustained")
    print(f"upload: {size_mb:.0f} MB of {args.content} over HTTPS (curl -T), mitmproxy 11 on loopback, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds, interleaved; "
          f"{'client limited to ' + args.rate + 'B/s' if args.rate else 'no rate limit'}")
    conf = tmp / "ca"
    ensure_ca(conf)
    ca = conf / "mitmproxy-ca-cert.pem"

    # 1. mitmproxy alone, as the rig runs it (same streaming), no addon
    port_alone = free_port()
    alone = subprocess.Popen([mitmdump(), "--listen-host", "127.0.0.1", "--listen-port", str(port_alone), "--set",
                              f"confdir={conf}", "--set", f"ssl_verify_upstream_trusted_ca={pki.ca}",
                              "--set", f"stream_large_bodies={STREAM_LARGE_BODIES}", "--set", "flow_detail=0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # 2. the tap recording only (mitmproxy + addon logging keys + dumpcap, nothing analysing)
    tap = NetTap("regular", "127.0.0.1:0", ca_dir=conf, upstream_ca=pki.ca)
    # 3. the rig: sandbox watch with the network tap, correlating live
    port_rig = free_port()
    db, rec = tmp / "store.sqlite", records / "rec"
    rig = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run_dir), "--mode", "regular",
                            "--listen", f"127.0.0.1:{port_rig}", "--ca-dir", str(conf), "--upstream-ca", str(pki.ca),
                            "--record", str(rec), "--db", str(db), "--quiet", "--cache-dir", str(tmp / "cache"),
                            "--report", str(tmp / "report.json")], cwd=ROOT, stdout=subprocess.DEVNULL)
    results: dict[str, list[tuple[float, dict]]] = {"alone": [], "tap": [], "rig": []}
    lates: list[float] = []
    try:
        wait_port(port_alone, alone)
        for source in tap.start(records / "rec-only"):
            source.close()          # nothing analyses: the tap records only
        wait_started(db, rig)
        cpu_alone, cpu_tap, cpu_rig = [Cpu(alone.pid)], [Cpu(tap._mitm.pid), Cpu(tap._dumpcap.proc.pid),
                                                                      Cpu(tap._dumpcap.writer.pid)], [Cpu(rig.pid)]
        for i in range(args.rounds):
            secs, _, used = timed(body, f"{url}/alone{i}", port_alone, ca, cpu_alone, args.rate)
            results["alone"].append((secs, used))
            secs, _, used = timed(body, f"{url}/tap{i}", tap.port, ca, cpu_tap, args.rate)
            results["tap"].append((secs, used))
            secs, t_end, used = timed(body, f"{url}/rig{i}", port_rig, ca, cpu_rig, args.rate)
            results["rig"].append((secs, used))
            lates.append(finding_latency(db, f"PUT /rig{i}", t_end))
            print(f"  round {i + 1}: " + "  ".join(f"{k} {size_mb / v[-1][0]:6.1f} MB/s" for k, v in results.items())
                  + f"  leak found {lates[-1]:+.1f} s after the upload; CPU taken by the VM's host: "
                  + "/".join(f"{v[-1][1]['steal']:.2f}" for v in results.values()) + " s", flush=True)
        med = {k: statistics.median(s for s, _ in v) for k, v in results.items()}
        print(f"median of {args.rounds}:")
        for k, label in (("alone", "mitmproxy alone"), ("tap", "the tap recording only"),
                         ("rig", "the rig analysing live")):
            cpu = {part: statistics.median(u.get(part, 0.0) for _, u in results[k]) for part in
                   sorted({p for _, u in results[k] for p in u})}
            over = "" if k == "alone" else f"  {med[k] / med['alone'] - 1:+.1%} (target <= +10%)"
            print(f"  {label:24s} {size_mb / med[k]:7.1f} MB/s  ({med[k]:.2f} s){over}")
            machine = cpu.pop("machine")
            steal = cpu.pop("steal")
            print(f"  {'':24s} CPU s: " + ", ".join(f"{p} {v:.2f}" for p, v in cpu.items())
                  + f"; total {sum(cpu.values()):.2f}; the whole machine {machine:.2f} "
                  f"({machine / med[k] / (os.cpu_count() or 1):.0%} of its {os.cpu_count()} cores busy; "
                  f"{steal:.2f} taken by the VM's host)")
        loop = {k: statistics.median(u.get("mitmproxy", 0.0) for _, u in v) for k, v in results.items()}
        print(f"  mitmproxy's own CPU (its one event loop: the serial stage): alone {loop['alone']:.2f} s, with our "
              f"addon {loop['tap']:.2f} s ({loop['tap'] / loop['alone'] - 1:+.0%}); with a spare core for dumpcap and "
              f"the analysis, that is the overhead left")
        print(f"  leak at the end of the {size_mb:.0f} MB upload in the store {statistics.median(lates):+.2f} s after "
              f"its last byte (median)")
        lag = store_rows(db, "SELECT value FROM session WHERE key = 'lag_bytes'")
        print(f"    (analysis lag when found: {json.loads(lag[0][0]) / 1e6 if lag else 0:.0f} MB recorded, not yet read)")
        time.sleep(3)   # an idle rig
        _, t_small = upload(small, f"{url}/small", port_rig, ca)
        quick = finding_latency(db, "PUT /small", t_small)
        print(f"  small leak on an idle rig in the store {quick:+.2f} s after its last byte  (target < 1 s)")
        pieces = []
        for i in range(args.rounds):
            time.sleep(1)
            _, t_piece = upload(one_piece, f"{url}/piece{i}", port_rig, ca, args.rate)
            pieces.append(finding_latency(db, f"PUT /piece{i}", t_piece))
        print(f"  leak ending a {MAX_BODY_PIECE >> 20} MB body (one body piece, all matched after its last byte) in "
              f"the store {statistics.median(pieces):+.2f} s after its last byte (median; rounds "
              + " ".join(f"{x:.2f}" for x in pieces) + ")")
    finally:
        rig.send_signal(signal.SIGTERM)
        rig.wait(WAIT_S)
        tap.stop()
        alone.terminate()
        alone.wait()
    got, span, drops = recording_complete(rec / "net.pcapng", port_rig)
    print(f"  recording: {got / 1e6:.1f} MB of the client's TCP payload, stream span {span / 1e6:.1f} MB, "
          f"drops {drops}: {'complete' if got >= span and drops == 0 else 'INCOMPLETE'}")
    server.shutdown()
    if args.keep:
        print(f"  kept: {tmp} {records}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(records, ignore_errors=True)


if __name__ == "__main__":
    main()
