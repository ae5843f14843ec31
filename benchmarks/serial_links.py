"""Network links on a serial line: a replay of PPP and SLIP recordings (the links undone, the IP
packets dissected, HTTP parsed, the reads matched) against tshark dissecting the same packets.

    .venv/bin/python benchmarks/serial_links.py [--mb 4]

Each case is one HTTP upload of ``--mb`` MB through a simulated link, recorded as the serial tap
records a line (4 KiB a chunk): FASTQ text, random bytes (compressed-looking), and the unfavourable
case, bytes every one of which PPP must escape; over plain PPP, PPP with Van Jacobson compression,
PPP with VJ and CCP Deflate, and compressed SLIP.  Ours: CPU seconds of ``replay`` in this process
(index cached first).  The anchor: ``tshark -r`` over the same packets written as
LINKTYPE_PPP_WITH_DIR (tshark reads PPP framing and VJ, not CCP Deflate nor a serial byte stream, so
the anchor is its dissection of frames already cut out), CPU seconds of the child.  A serial line
carries at most ~0.09 MB/s (921600 baud): both are far above what a line can bring.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.captures.serialwriter import SerialRecording  # noqa: E402
from sandbox.captures.writer import PcapWriter  # noqa: E402
from sandbox.replay import replay  # noqa: E402
from sandbox.simulate import ensure_demo  # noqa: E402
from sandbox.simulate.ppp import PROTOCOLS, VjCompressor, ppp, ppp_session, upload_packets  # noqa: E402
from tests.protocols.serial.slipwire import slip_session  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
INSTRUMENT, SERVER = "10.64.64.2", "192.0.2.9"
INSTRUMENT_RAW = bytes([10, 64, 64, 2])
LINKTYPE_PPP_WITH_DIR = 204
LINKS = {
    "ppp": lambda p: ppp_session(p, INSTRUMENT_RAW),
    "ppp vj": lambda p: ppp_session(p, INSTRUMENT_RAW, vj=True),
    "ppp vj deflate": lambda p: ppp_session(p, INSTRUMENT_RAW, vj=True, deflate=True),
    "cslip": lambda p: slip_session(p, INSTRUMENT_RAW, vj=True),
}


def bodies(run_dir: Path, size: int) -> dict[str, bytes]:
    fastq = b"".join(gzip.decompress(p.read_bytes()) for p in sorted((run_dir / "Data/Intensities/BaseCalls")
                                                                     .glob("*.fastq.gz")))
    return {"fastq text": (fastq * (size // len(fastq) + 1))[:size], "random": os.urandom(size),
            "all escaped": b"\x7e\x7d\x11\x13" * (size // 4)}


def record(path: Path, chunks: list[tuple[str, bytes]]) -> int:
    with SerialRecording(path) as rec:
        line = rec.add_line("/dev/ttyS0", "/dev/ttyUSB0", "115200 8N1", baud=115200)
        t = 1.0
        for direction, data in chunks:
            for i in range(0, len(data), 4096):
                t += 0.0005
                rec.data(line, direction, data[i:i + 4096], t)
    return sum(len(data) for _, data in chunks)


def anchor_pcap(path: Path, packets: list[bytes], vj: bool) -> None:
    compressors = {True: VjCompressor(), False: VjCompressor()}
    with PcapWriter(path, linktype=LINKTYPE_PPP_WITH_DIR) as w:
        for i, packet in enumerate(packets):
            side = packet[12:16] == INSTRUMENT_RAW
            kind, data = compressors[side].compress(packet) if vj else ("ip", packet)
            w.write(bytes([1 if side else 0]) + ppp(PROTOCOLS[kind], data), 1.0 + i / 10000)


def tshark_cpu(path: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["tshark", "-r", str(path), "-q", "-z", "io,stat,0"], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=4.0, help="MB uploaded in each case")
    args = p.parse_args()
    run_dir = ensure_demo(REPO / "captures" / "demo")[0]
    with tempfile.TemporaryDirectory(prefix="sbx-bench-links-") as tmp:
        work = Path(tmp)
        replay([], [run_dir], cache_dir=work / "cache", jobs=1)           # the index, built once
        print(f"{'case':14s} {'link':15s} {'line MB':>8s} {'ours MB/s':>10s} {'tshark MB/s':>12s} {'ratio':>6s}  verdict")
        for name, body in bodies(run_dir, int(args.mb * 1e6)).items():
            packets = upload_packets(INSTRUMENT, SERVER, body)
            for link, make in LINKS.items():
                capture = work / "line.pcapng"
                size = record(capture, make(packets))
                start = time.process_time()
                report = replay([capture], [run_dir], allow=[SERVER], cache_dir=work / "cache", jobs=1).report
                ours = time.process_time() - start
                theirs = ""
                ratio = ""
                if link in ("ppp", "ppp vj"):
                    anchor_pcap(work / "anchor.pcap", packets, vj=link == "ppp vj")
                    cpu = tshark_cpu(work / "anchor.pcap")
                    theirs, ratio = f"{size / 1e6 / cpu:12.1f}", f"{cpu / ours:5.2f}x"
                print(f"{name:14s} {link:15s} {size / 1e6:8.1f} {size / 1e6 / ours:10.1f} {theirs:>12s} {ratio:>6s}  "
                      f"{report['verdict']}")


if __name__ == "__main__":
    main()
