"""Generate a large pcap of mixed instrument traffic for throughput benchmarks.

Hundreds of TCP flows with 1448-byte segments (a 1500-byte MTU with TCP timestamps), a few of them
open at any time, interleaved: compressed-looking (random) uploads, JSON telemetry over HTTP and
FASTQ text over HTTP (from a run folder when given, so the replay has leaks to find).

    python benchmarks/gen_mixed_capture.py out.pcap --size-mb 200 [--run RUN_DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.captures.writer import PcapWriter, TcpConversation  # noqa: E402
from sandbox.simulate import wire  # noqa: E402
from sandbox.simulate.dna import fastq, qualities, random_codes, sample_reads  # noqa: E402

MSS = 1448  # 1500 MTU - 20 IP - 20 TCP - 12 TCP timestamp option
PIECE = 64 << 10  # bytes a flow sends before the scheduler moves to the next open flow
CONCURRENCY = 8  # flows open at once
INSTRUMENT = "10.20.0.5"
# Share of flows per kind; uploads carry most of the bytes.
MIX = (("upload", 0.55), ("telemetry", 0.35), ("fastq", 0.10))
TELEMETRY_POSTS = 20  # heartbeats per telemetry connection


def _upload(rng: np.random.Generator, host: str, size: int) -> Iterator[tuple[bytes, bool]]:
    head = wire.http_request("POST", "/v1/objects/batch.bin", host, b"", content_type="application/octet-stream")
    head = head.replace(b"Content-Length: 0", b"Content-Length: %d" % size)
    yield head, True
    for off in range(0, size, PIECE):
        yield rng.bytes(min(PIECE, size - off)), True
    yield wire.http_response(b'{"stored":true}'), False


def _telemetry(rng: np.random.Generator, host: str) -> Iterator[tuple[bytes, bool]]:
    for n in range(TELEMETRY_POSTS):
        body = json.dumps({"seq": n, "state": "Running", "cycle": int(rng.integers(1, 320)),
                           "temps": rng.normal(30, 2, 4).round(2).tolist(), "fluidics": "ok"}).encode()
        yield wire.http_request("POST", "/api/v1/status", host, body, content_type="application/json"), True
        yield wire.http_response(b'{"ok":true}'), False


def _fastq(text: bytes, start: int, size: int, host: str) -> Iterator[tuple[bytes, bool]]:
    start %= max(len(text) - size, 1)
    body = text[start:start + size]
    yield wire.http_request("POST", "/api/v1/qc/reads", host, body, content_type="text/plain"), True
    yield wire.http_response(b'{"ok":true}'), False


def _fastq_text(run: Path | None, rng: np.random.Generator) -> bytes:
    if run is not None:
        files = sorted(Path(run).rglob("*.fastq.gz"))
        if files:
            return b"".join(gzip.decompress(p.read_bytes()) for p in files)
    reads = sample_reads(rng, random_codes(rng, 200_000), 4000, 151)
    return fastq([b"@bench:%d" % i for i in range(len(reads))], reads, qualities(rng, reads))


def generate(out: Path, *, size: int = 200 << 20, flows: int = 400, run: Path | None = None,
             seed: int = 0) -> dict[str, float]:
    """Write the capture; returns counts and timing."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    text = _fastq_text(run, rng)
    kinds = [k for k, share in MIX for _ in range(round(flows * share))]
    rng.shuffle(kinds)
    n_up, n_fq = kinds.count("upload"), kinds.count("fastq")
    fastq_size = min(len(text), 256 << 10)
    up_size = max(PIECE, (size - n_fq * fastq_size) // max(n_up, 1))
    clock = 1763892000.0
    with PcapWriter(out) as w:
        pending = list(enumerate(kinds))
        active: list[tuple[TcpConversation, Iterator[tuple[bytes, bool]]]] = []
        written = 0
        while pending or active:
            while pending and len(active) < CONCURRENCY:
                i, kind = pending.pop(0)
                host = f"203.0.113.{i % 250 + 1}" if kind != "telemetry" else f"198.51.100.{i % 250 + 1}"
                conv = TcpConversation(w, (INSTRUMENT, 20000 + i), (host, 80), t0=clock, mss=MSS, dt=0.00005,
                                       isn_client=i * 7919, isn_server=i * 104729)
                steps = (_upload(rng, host, up_size) if kind == "upload" else _telemetry(rng, host)
                         if kind == "telemetry" else _fastq(text, int(rng.integers(0, 1 << 30)), fastq_size, host))
                active.append((conv, steps))
            conv, steps = active.pop(0)
            step = next(steps, None)
            conv.t = max(conv.t, clock)
            if step is None:
                conv.close()
            else:
                conv.send(step[0], from_client=step[1])
                written += len(step[0])
                active.append((conv, steps))
            clock = conv.t
        packets = w.packets
    return {"bytes": out.stat().st_size, "payload_bytes": written, "packets": packets, "flows": len(kinds),
            "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--size-mb", type=int, default=200, help="approximate payload size (default 200)")
    p.add_argument("--flows", type=int, default=400)
    p.add_argument("--run", type=Path, help="run folder whose FASTQ text some flows carry")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    stats = generate(args.out, size=args.size_mb << 20, flows=args.flows, run=args.run, seed=args.seed)
    print(f"{args.out}: {stats['bytes'] / 1e6:.1f} MB, {stats['packets']} packets, {stats['flows']} flows, "
          f"written in {stats['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
