"""What transparent ``--block`` costs the instrument's DNS: queries routed by the rig as they are, and
the same held in the kernel queue until judged, side by side in one run (root: network namespaces).

Transparent mode carries the instrument's TCP through mitmproxy; with ``--block`` its UDP waits in a
netfilter queue for the judge (``hw/net/nfqueue.py``), which answers once the analysis of the raw
recording has the packet and its flow has settled.  The unfavourable case is lookups one after
another, each waiting its turn (a client resolving names in a loop): that is what this measures,
on a bench of namespaces (instrument - rig - cloud, as the tests make it) with the cloud's resolver
answering.  The anchor is the same queries through the same rig namespace with no tap at all.

    .venv/bin/python benchmarks/block_dns.py [--queries 20]

Prints the median milliseconds per query each way, the difference, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.net_tap import wait_started  # noqa: E402
from sandbox.simulate import ensure_demo  # noqa: E402
from tests.hw.net.rig import cloud_servers, sandbox  # noqa: E402
from tests.hw.net.topology import CLOUD_IP, CLOUD_NAME, bench  # noqa: E402

# In "instrument": N A-record lookups of the cloud's name at its resolver, one after another; the
# milliseconds each took, one line.
LOOKUPS = """
import sys, time
import dns.message, dns.query
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    dns.query.udp(dns.message.make_query(sys.argv[3], "A"), sys.argv[1], port=53, timeout=30)
    times.append((time.perf_counter() - t) * 1000)
print(" ".join(f"{x:.2f}" for x in times))
"""


def lookups(b, n: int) -> list[float]:
    done = b.run(b.instrument, [sys.executable, "-c", LOOKUPS, CLOUD_IP, str(n), CLOUD_NAME], timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"the lookups failed: {done.stderr[-1000:]}")
    return [float(x) for x in done.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=20, help="lookups each way")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("block_dns.py makes network namespaces: run it as root")
    run_dir, _ = ensure_demo(ROOT / "captures" / "demo")
    tmp = Path(tempfile.mkdtemp(prefix="sbx-block-dns-"))
    try:
        with bench(f"sbx-bdns-{os.getpid() % 10000}") as b, cloud_servers(b, tmp):
            routed = lookups(b, args.queries)
            db = tmp / "store.sqlite"
            rig = sandbox("watch", "--run", str(run_dir), "--mode", "transparent", "--netns", b.rig, "--iface",
                          b.rig_iface, "--listen", "0.0.0.0:8080", "--ca-dir", str(tmp / "ca"), "--record",
                          str(tmp / "rec"), "--db", str(db), "--quiet", "--cache-dir", str(tmp / "cache"),
                          "--report", str(tmp / "report.json"), "--block", "--allow", CLOUD_NAME)
            try:
                wait_started(db, rig)
                held = lookups(b, args.queries)
            finally:
                rig.send_signal(signal.SIGTERM)
                rig.communicate(timeout=300)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.queries} DNS lookups one after another from the instrument to the bench resolver (namespaces, "
          f"transparent mode)")
    med_routed, med_held = statistics.median(routed), statistics.median(held)
    print(f"  routed by the rig, no tap      {med_routed:8.1f} ms per query (median)")
    print(f"  held by a --block rig          {med_held:8.1f} ms per query (median; slowest {max(held):.0f} ms)  "
          f"+{med_held - med_routed:.0f} ms, {med_held / med_routed:.0f}x")

if __name__ == "__main__":
    main()
