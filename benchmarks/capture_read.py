"""Capture read + TCP reassembly throughput (MB/s of capture file) on a generated ~100 MB pcap.

Phases timed separately: reading Segments only; reading + the Dissector with the raw parser only
(reassembly + flow table + chunking); reading + the Dissector with every registered app parser.
``--tunnel KIND`` wraps every packet in a tunnel (``writer.ENCAPSULATIONS``: vxlan, gre, erspan2,
pppoe...), the unfavourable case: none of it takes the Ethernet/IPv4/TCP hot path.

``--cooked`` also times the same packets as the rig records its instrument's link (Linux cooked v2 in
pcapng, each packet received or sent), with the Dissector told that link (``--instrument link:N``).

    .venv/bin/python benchmarks/capture_read.py [--mb 100] [--keep FILE] [--gzip] [--pcapng] [--cooked]
                                                [--tunnel vxlan]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.captures import open_capture  # noqa: E402
from sandbox.captures.pcap import PcapReader  # noqa: E402
from sandbox.captures.source import Chunks  # noqa: E402
from sandbox.captures.writer import (  # noqa: E402
    ENCAPSULATIONS,
    LINKTYPE_LINUX_SLL2,
    PcapngWriter,
    PcapWriter,
    TcpConversation,
    Tunnel,
    cooked_v2,
    udp,
)
from sandbox.protocols import Dissector  # noqa: E402

MSS = 1448          # 1500 MTU - IP - TCP - timestamp option
FLOWS_OPEN = 8      # interleaved connections at any time
PIECE = 256 << 10   # bytes one flow sends before the next open flow takes a turn


def generate(path: Path, target_mb: float, seed: int = 7, tunnel: str | None = None) -> None:
    """Interleaved uploads (random bytes and HTTP-ish text), 1 in 50 segments swapped out of order;
    every packet inside ``tunnel`` when given."""
    rng = np.random.default_rng(seed)
    blob = rng.integers(0, 256, 8 << 20, dtype=np.uint8).tobytes()
    text = (b"POST /api/v1/upload HTTP/1.1\r\nHost: cloud.example\r\nContent-Length: 1000000\r\n\r\n"
            + b"ACGT" * (1 << 20))
    with PcapWriter(path) as file:
        w = Tunnel(file, tunnel) if tunnel else file
        t = 1_700_000_000.0
        n = 0
        while path.stat().st_size < target_mb * 1e6:
            convs = [TcpConversation(w, (f"10.0.{n % 250}.{i + 2}", 40000 + i), ("203.0.113.9", 9000),
                                     t0=t, mss=MSS, isn_client=int(rng.integers(0, 1 << 32)))
                     for i in range(FLOWS_OPEN)]
            for _ in range(4):
                for k, conv in enumerate(convs):
                    start = int(rng.integers(0, len(blob) - PIECE))
                    data = text[start % (len(text) - PIECE):][:PIECE] if k % 2 else blob[start:start + PIECE]
                    frames = conv.build(data)
                    for j in range(10, len(frames) - 1, 100):       # some reordering
                        frames[j], frames[j + 1] = frames[j + 1], frames[j]
                    for ft, f in frames:
                        w.write(f, ft)
                    udp(w, (f"10.0.{n % 250}.2", 5353), ("10.0.0.1", 53), b"\x12\x34" + bytes(30), t=conv.t)
            for conv in convs:
                conv.close()
                t = max(t, conv.t)
            n += 1


def to_pcapng(src: Path, dst: Path) -> None:
    """The same frames as pcapng (what dumpcap writes by default)."""
    with open(src, "rb") as f, PcapngWriter(dst) as w:
        for pkt in PcapReader(Chunks(f)).packets():
            w.write(pkt.data, pkt.t)


def to_cooked(src: Path, dst: Path) -> None:
    """The same packets as the rig's recording of its instrument's link: the server's sent by the rig."""
    server = bytes([203, 0, 113, 9])
    with open(src, "rb") as f, PcapngWriter(dst, linktype=LINKTYPE_LINUX_SLL2) as w:
        for pkt in PcapReader(Chunks(f)).packets():
            ip = pkt.data[14:]
            w.write(cooked_v2(ip, ifindex=3, sent=ip[12:16] == server), pkt.t)


def timed(label: str, path: Path, size: int, dissector: Dissector | None) -> None:
    started = time.perf_counter()
    cap = open_capture(path)
    segs = payload_bytes = 0
    for seg in cap:
        segs += 1
        if dissector is not None:
            for item in dissector.feed(seg):
                payload_bytes += len(getattr(item, "data", b""))
    if dissector is not None:
        for item in dissector.close():
            payload_bytes += len(getattr(item, "data", b""))
    took = time.perf_counter() - started
    print(f"{label:34s} {size / took / 1e6:8.1f} MB/s  {segs / took / 1e3:7.1f} kseg/s  "
          f"{took:6.2f} s  segments={segs} payload_bytes={payload_bytes} errors={len(cap.errors)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--keep", type=Path, help="write the capture here and keep it")
    ap.add_argument("--gzip", action="store_true", help="also time the gzip-compressed capture")
    ap.add_argument("--pcapng", action="store_true", help="also time the same frames as pcapng")
    ap.add_argument("--cooked", action="store_true", help="also time the rig's cooked v2 recording of the same")
    ap.add_argument("--tunnel", choices=sorted(ENCAPSULATIONS), help="wrap every packet in this tunnel")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    path = args.keep or tmp / "bench.pcap"
    try:
        t0 = time.perf_counter()
        generate(path, args.mb, tunnel=args.tunnel)
        size = path.stat().st_size
        print(f"generated {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s: {path}")
        timed("read segments", path, size, None)
        timed("read + reassemble (raw parser)", path, size, Dissector(stream_parsers=[], datagram_parsers=[]))
        timed("read + reassemble + app parsers", path, size, Dissector())
        if args.gzip:
            gz = tmp / "bench.pcap.gz"
            with open(path, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst)
            timed("read segments (gzip, uncompressed MB)", gz, size, None)
        if args.pcapng:
            ng = tmp / "bench.pcapng"
            to_pcapng(path, ng)
            timed("read segments (pcapng, its MB)", ng, ng.stat().st_size, None)
        if args.cooked:
            cooked = tmp / "cooked.pcapng"
            to_cooked(path, cooked)
            timed("read segments (cooked v2, its MB)", cooked, cooked.stat().st_size, None)
            timed("read + reassemble (cooked v2, link)", cooked, cooked.stat().st_size,
                  Dissector(instrument=["10.0.0.0/8", "link:3"], stream_parsers=[], datagram_parsers=[]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
