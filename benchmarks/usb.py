"""USB replay throughput: ``sandbox replay`` of usbmon captures against ``tshark`` dissecting the same
file (its USB mass-storage and CDC dissectors run on every record), side by side: the whole replay
(decoding, decompression and matching against the run), and our capture reader and flow table
alone (what tshark does: the ratio column).

Captures (written once in --workdir by the project's USB bench): a FAT32 stick given FASTQ.gz files
(the favourable case: ~120 KiB SCSI WRITEs), the same stick given 2000 small files in 50 folders
(unfavourable: every file's directory and FAT writes change what names the held data), a USB modem (RNDIS) carrying an HTTP upload of the same
(one Ethernet frame per message, re-dissected), and the unfavourable case: a USB-serial adapter
sending the reads a few bytes per transfer, and a keyboard's 8-byte reports.  Prints MB/s,
transfers/s and the ratio to tshark, with the machine's load.

    .venv/bin/python benchmarks/usb.py [--mb 32] [--workdir /tmp/sbx-usb-bench]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.captures.usbwriter import INTERRUPT  # noqa: E402
from sandbox.simulate import ensure_demo  # noqa: E402
from sandbox.simulate.runfolder import sample_fastqs  # noqa: E402
from sandbox.simulate.traffic import INSTRUMENT, Bench  # noqa: E402
from sandbox.simulate.usb import (  # noqa: E402
    NetworkLink,
    SerialHost,
    UsbBench,
    keyboard,
    network_adapter,
    open_writer,
    serial_adapter,
    stick_session,
)
from sandbox.simulate.wire import http_request, http_response  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SERIAL_TRANSFER = 16        # bytes per CDC-ACM transfer in the unfavourable case (a chatty UART bridge)
SMALL_FILES = 2000          # 4 KiB files copied to a stick in the unfavourable naming case (a BCL folder)


def payload(run: Path, size: int) -> bytes:
    """FASTQ.gz of the demo run, repeated (renamed per copy) up to ``size`` bytes."""
    data = next(iter(sample_fastqs(run).values())).read_bytes()
    return (data * (size // len(data) + 1))[:size]


def write_captures(workdir: Path, run: Path, size: int) -> dict[str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    data = payload(run, size)
    paths = {name: workdir / f"{name}.pcapng" for name in ("stick", "stick-files", "rndis", "serial-16B",
                                                            "keyboard")}
    if all(p.exists() for p in paths.values()):
        return paths
    with open_writer(paths["stick"]) as w:
        part = -(-len(data) // 8)
        stick_session(w, {f"RUN/part{i:02}.fastq.gz": data[i * part:(i + 1) * part] for i in range(8)})
    with open_writer(paths["stick-files"]) as w:       # unfavourable: every file re-reads the directory tree
        stick_session(w, {f"RUN/L001/C{i // 40}.1/s_{i}.bcl": data[i * 4096:(i + 1) * 4096]
                          for i in range(min(SMALL_FILES, len(data) // 4096))})
    with open_writer(paths["rndis"]) as w:
        usb = UsbBench(w)
        net = Bench(NetworkLink(usb, usb.plug(network_adapter("rndis")), INSTRUMENT), t0=usb.t)
        conv = net.connect(("203.0.113.50", 80))
        net.exchange(conv, http_request("POST", "/up", "upload.example.net", data), http_response(b"{}"))
        net.close(conv)
    text = gzip.decompress(next(iter(sample_fastqs(run).values())).read_bytes())
    text = (text * (size // 8 // len(text) + 1))[:size // 8]
    with open_writer(paths["serial-16B"]) as w:
        bench = UsbBench(w)
        host = SerialHost(bench, bench.plug(serial_adapter()))
        for off in range(0, len(text), SERIAL_TRANSFER):
            host.send(text[off:off + SERIAL_TRANSFER])
    with open_writer(paths["keyboard"]) as w:
        bench = UsbBench(w)
        dev = bench.plug(keyboard())
        for i in range(size // 64):
            w.bulk(bench.bus, dev.address, 0x81, bytes([0, 0, 4 + i % 26, 0, 0, 0, 0, 0]), bench._tick(0.001),
                   transfer=INTERRUPT)
    return paths


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    if res.returncode not in (0, 1, 3):
        raise SystemExit(f"{argv[0]} exited {res.returncode}: {res.stderr[-2000:]}")
    return time.perf_counter() - start


def dissect_seconds(path: Path) -> float:
    """Our capture reader and flow table alone (USB decoding, frames re-dissected; no matching)."""
    from sandbox.captures import open_capture
    from sandbox.protocols import Dissector

    start = time.perf_counter()
    dissector = Dissector()
    for seg in open_capture(path):
        dissector.feed(seg)
    dissector.close()
    return time.perf_counter() - start


def records(path: Path) -> int:
    out = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.strip().split()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=32.0, help="MB the stick and the modem carry")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/sbx-usb-bench"))
    args = p.parse_args()
    run, _ = ensure_demo(REPO / "captures" / "demo")
    paths = write_captures(args.workdir, run, int(args.mb * (1 << 20)))
    cache = args.workdir / "cache"
    subprocess.run([sys.executable, "-m", "sandbox.cli", "index", str(run), "--cache-dir", str(cache)],
                   capture_output=True, cwd=REPO)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'capture':12} {'MB':>7} {'records':>9} {'replay s':>9} {'MB/s':>6} {'dissect s':>10} {'rec/s':>9} "
          f"{'tshark s':>9} {'dissect/tshark':>15}")
    for name, path in paths.items():
        mb = path.stat().st_size / (1 << 20)
        n = records(path)
        ours = timed([sys.executable, "-m", "sandbox.cli", "replay", str(path), "--run", str(run), "--quiet",
                      "--cache-dir", str(cache), "--jobs", "1"])
        dissect = dissect_seconds(path)
        theirs = timed(["tshark", "-r", str(path), "-q", "-z", "io,stat,0"])
        print(f"{name:12} {mb:7.1f} {n:9,} {ours:9.2f} {mb / ours:6.1f} {dissect:10.2f} {n / dissect:9,.0f} "
              f"{theirs:9.2f} {theirs / dissect:14.2f}x")


if __name__ == "__main__":
    main()
