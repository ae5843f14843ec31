"""The raw recording's cost: dumpcap on the instrument's interface (Ethernet: what the rig recorded
before) against the rig's sided recording (Linux's "any" device filtered to that interface's index,
cooked v2: each packet says whether the rig received or sent it), side by side, taking turns.

The traffic crosses a veth pair between the machine and a namespace made here (nothing leaves the
machine): a TCP upload in large segments, and the unfavourable case, UDP datagrams of 1400 bytes
(the per-packet cost: a packet each).  With ``--other`` the same traffic crosses a second veth pair at
the same time, which the sided recording's filter must look at and refuse (the rig's cloud-facing leg).

Prints per case and mode: the transfer's MB/s, the CPU seconds dumpcap and its tee spent per GB sent,
and whether the recording is complete (payload bytes recorded against sent, dumpcap's drops).

    .venv/bin/python benchmarks/recorder.py [--mb 500] [--rounds 3] [--rate 125] [--other] [--record-dir /dev/shm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hw.net.dumpcap import Dumpcap  # noqa: E402
from sandbox.captures import open_capture  # noqa: E402

NS = "sbx-bench-rec"
LINKS = (("sbxbrec0", "sbxbrec1", "10.236.1"), ("sbxbrec2", "sbxbrec3", "10.236.2"))   # here, there, /24
PORT = 9
DATAGRAM = 1400

SENDER = """
import socket, sys, time
kind, host, port, mb, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
chunk = bytes(range(256)) * 256
piece = chunk if kind == "tcp" else chunk[:DATAGRAM]
if kind == "tcp":
    s = socket.create_connection((host, port))
    send = s.sendall
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send = lambda data: s.sendto(data, (host, port))
start, sent, total = time.perf_counter(), 0, mb << 20
while sent < total:
    send(piece)
    sent += len(piece)
    if rate and sent % (1 << 20) < len(piece):        # paced: a MB at a time
        ahead = sent / rate - (time.perf_counter() - start)
        if ahead > 0:
            time.sleep(ahead)
s.close()
""".replace("DATAGRAM", str(DATAGRAM))

RECEIVER = """
import socket, sys
kind, port = sys.argv[1], int(sys.argv[2])
if kind == "tcp":
    srv = socket.create_server(("0.0.0.0", port))
    print("ready", flush=True)
    conn, _ = srv.accept()
    while conn.recv(1 << 20):
        pass
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    s.bind(("0.0.0.0", port))
    print("ready", flush=True)
    s.settimeout(2)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        pass
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def setup() -> None:
    teardown()
    ip("netns", "add", NS)
    for here, there, net in LINKS:
        ip("link", "add", here, "type", "veth", "peer", "name", there, "netns", NS)
        ip("addr", "add", f"{net}.1/24", "dev", here)
        ip("link", "set", here, "up")
        ip("-n", NS, "addr", "add", f"{net}.2/24", "dev", there)
        ip("-n", NS, "link", "set", there, "up")


def teardown() -> None:
    for here, _, _ in LINKS:
        subprocess.run(["ip", "link", "del", here], capture_output=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def transfer(kind: str, mb: int, other: bool, rate: float = 0) -> float:
    """Send ``mb`` MB from the namespace to here over the first link (and as much over the second with
    ``other``, to the next port); seconds the first took."""
    links = LINKS if other else LINKS[:1]
    receivers = []
    for n in range(len(links)):
        r = subprocess.Popen([sys.executable, "-c", RECEIVER, kind, str(PORT + n)], stdout=subprocess.PIPE, text=True)
        assert r.stdout is not None and r.stdout.readline().strip() == "ready"
        receivers.append(r)
    started = time.perf_counter()
    senders = [subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", SENDER, kind, f"{net}.1",
                                 str(PORT + n), str(mb), str(rate)]) for n, (_, _, net) in enumerate(links)]
    senders[0].wait()
    took = time.perf_counter() - started
    for proc in senders[1:] + receivers:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return took


def cpu(proc: psutil.Process | None) -> float:
    try:
        t = proc.cpu_times() if proc is not None else None
    except psutil.Error:
        return 0.0
    return t.user + t.system if t is not None else 0.0


def recorded(path: Path, kind: str) -> tuple[int, int, int]:
    """(payload bytes of ``kind`` to the first link's port, to the second's, dumpcap's drops)."""
    cap = open_capture(path)
    first = second = 0
    for seg in cap:
        if seg.transport == kind:
            first += len(seg.data) if seg.dport == PORT else 0
            second += len(seg.data) if seg.dport == PORT + 1 else 0
    return first, second, cap.stats.drops


def settled(path: Path) -> None:
    """Wait until the recording stops growing: dumpcap has drained what the kernel buffered."""
    size = -1
    while path.stat().st_size != size:
        size = path.stat().st_size
        time.sleep(0.3)


def one(kind: str, sided: bool, mb: int, other: bool, rate: float, folder: Path) -> dict:
    out = folder / f"{kind}-{'sided' if sided else 'iface'}.pcapng"
    d = Dumpcap(LINKS[0][0], out, sided=sided)
    d.start()
    procs = [psutil.Process(p.pid) for p in (d.proc, d.writer) if p is not None]
    took = transfer(kind, mb, other, rate)
    settled(out)
    spent = sum(cpu(p) for p in procs)       # before stop: a stopped process's times are gone
    d.stop()
    got, stray, drops = recorded(out, kind)
    out.unlink()
    assert not stray, "the other link's traffic is in the recording"
    return {"mb_s": mb / took, "cpu_per_gb": spent / (mb / 1024), "recorded": got, "sent": mb << 20, "drops": drops}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=125.0,
                    help="MB/s each sender keeps to (default 125: 1 Gbit/s, the rig's design rate; 0: as fast as it goes)")
    ap.add_argument("--other", action="store_true", help="the same traffic on a second link at the same time")
    ap.add_argument("--record-dir", type=Path, help="where the recordings go (default: a temporary folder)")
    args = ap.parse_args()
    if shutil.which("dumpcap") is None or os.geteuid() != 0:
        sys.exit("needs dumpcap and root (a namespace and veth pairs)")
    folder = Path(tempfile.mkdtemp(prefix="sbx-rec-", dir=args.record_dir))
    setup()
    try:
        print(f"{args.mb} MB a transfer at {f'{args.rate:g} MB/s' if args.rate else 'full speed'}, "
              f"{args.rounds} rounds, taking turns"
              + (", the same on a second link at once" if args.other else ""))
        for kind in ("tcp", "udp"):
            transfer(kind, args.mb // 4, args.other)          # warm: the namespace, the page cache, the code
            runs: dict[bool, list[dict]] = {False: [], True: []}
            for _ in range(args.rounds):
                for sided in (False, True):
                    runs[sided].append(one(kind, sided, args.mb, args.other, args.rate * (1 << 20), folder))
            for sided, rs in runs.items():
                name = "sided (any, ifindex, cooked v2)" if sided else "interface (Ethernet)"
                print(f"  {kind} {name:34s} {statistics.median(r['mb_s'] for r in rs):7.1f} MB/s  "
                      f"dumpcap+tee {statistics.median(r['cpu_per_gb'] for r in rs):5.2f} CPU-s/GB  "
                      f"recorded {min(r['recorded'] / r['sent'] for r in rs):6.1%} of sent (worst round), "
                      f"drops {max(r['drops'] for r in rs)}")
            base = statistics.median(r["cpu_per_gb"] for r in runs[False])
            side = statistics.median(r["cpu_per_gb"] for r in runs[True])
            print(f"  {kind} sided / interface CPU: {side / base:.2f}x")
    finally:
        teardown()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
