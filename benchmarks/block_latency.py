"""What ``--block`` costs a request: small HTTPS requests through mitmproxy alone and through the
rig holding each until judged, side by side in one run.

Under ``--block`` a connect waits for the analysis of what the instrument sent so far, and so does
each request (and each WebSocket or raw TCP message): a round trip through the recording, the
session and the judge.  The unfavourable case is many small requests one after another, each
waiting its turn: that is what this measures, on a new connection each and on one kept-alive
connection.  (In regular mode mitmproxy connects upstream only once the request has passed, for
that request: the connect is not held a second time.)

    .venv/bin/python benchmarks/block_latency.py [--requests 30]

Prints the median seconds per request through each, the difference, and the ratio; mitmproxy alone
runs with the rig's ``--block`` settings (``connection_strategy=lazy``, nothing streamed).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.net_tap import free_port, wait_port, wait_started  # noqa: E402
from hw.net.ca import ensure_ca  # noqa: E402
from hw.net.mitm import mitmdump  # noqa: E402
from sandbox.simulate import ensure_demo  # noqa: E402
from tests.hw.net.servers import https_sink, make_pki  # noqa: E402

WAIT_S = 300
BODY = b'{"state": "idle", "temperature_c": 21.4, "flowcell": "loaded"}'


def timed(session: requests.Session | None, url: str, port: int, ca: Path) -> float:
    """Seconds for one POST through the proxy at ``port`` (a new connection when ``session`` is None)."""
    proxies = {"https": f"http://127.0.0.1:{port}"}
    t = time.perf_counter()
    if session is None:
        with requests.Session() as fresh:
            r = fresh.post(url, data=BODY, proxies=proxies, verify=str(ca), timeout=WAIT_S)
    else:
        r = session.post(url, data=BODY, proxies=proxies, verify=str(ca), timeout=WAIT_S)
    r.raise_for_status()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=30, help="requests of each kind through each (interleaved)")
    args = ap.parse_args()
    run_dir, _ = ensure_demo(ROOT / "captures" / "demo")
    tmp = Path(tempfile.mkdtemp(prefix="sbx-block-bench-"))
    pki = make_pki(tmp / "pki", ["localhost", "127.0.0.1"])
    server, received = https_sink(pki)
    received.add = lambda body: None
    url = f"https://localhost:{server.server_address[1]}/status"
    conf = tmp / "ca"
    ensure_ca(conf)
    ca = conf / "mitmproxy-ca-cert.pem"
    port_alone, port_rig = free_port(), free_port()
    alone = subprocess.Popen([mitmdump(), "--listen-host", "127.0.0.1", "--listen-port", str(port_alone), "--set",
                              f"confdir={conf}", "--set", f"ssl_verify_upstream_trusted_ca={pki.ca}",
                              "--set", "connection_strategy=lazy", "--set", "flow_detail=0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp / "store.sqlite"
    rig = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "watch", "--run", str(run_dir), "--mode", "regular",
                            "--listen", f"127.0.0.1:{port_rig}", "--ca-dir", str(conf), "--upstream-ca", str(pki.ca),
                            "--record", str(tmp / "rec"), "--db", str(db), "--quiet", "--cache-dir", str(tmp / "cache"),
                            "--report", str(tmp / "report.json"), "--block", "--allow", "localhost", "127.0.0.1"],
                           cwd=ROOT, stdout=subprocess.DEVNULL)
    print(f"{args.requests} small HTTPS POSTs of each kind, one after another, through mitmproxy 11 alone and through "
          f"the rig with --block (regular mode, loopback); interleaved")
    kinds = {"a new connection each": None, "one kept-alive connection": 1}
    try:
        wait_port(port_alone, alone)
        wait_started(db, rig)
        for label, keep in kinds.items():
            sessions = {p: requests.Session() if keep else None for p in (port_alone, port_rig)}
            times: dict[int, list[float]] = {port_alone: [], port_rig: []}
            for _ in range(args.requests):
                for port in (port_alone, port_rig):
                    times[port].append(timed(sessions[port], url, port, ca))
            med_alone, med_rig = statistics.median(times[port_alone]), statistics.median(times[port_rig])
            print(f"  {label}:")
            print(f"    mitmproxy alone      {med_alone * 1000:7.1f} ms per request (median)")
            print(f"    the rig, --block     {med_rig * 1000:7.1f} ms per request (median; slowest "
                  f"{max(times[port_rig]) * 1000:.0f} ms)  +{(med_rig - med_alone) * 1000:.0f} ms, "
                  f"{med_rig / med_alone:.1f}x")
            for s in sessions.values():
                if s is not None:
                    s.close()
    finally:
        rig.send_signal(signal.SIGTERM)
        rig.wait(WAIT_S)
        alone.terminate()
        alone.wait()
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
