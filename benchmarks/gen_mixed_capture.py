"""Generate a large pcap of mixed instrument traffic for throughput benchmarks.

Hundreds of TCP flows with 1448-byte segments (a 1500-byte MTU with TCP timestamps) in one of two
profiles:

- ``interleaved``: a few flows open at any time, mostly compressed-looking (random) uploads, small
  JSON heartbeats and some FASTQ text over HTTP;
- ``sequential``: flows one after another, as an instrument PC sends them, with a large share of
  text: newline-delimited JSON telemetry batches and FASTQ text beside the random uploads.

FASTQ text comes from a run folder when given, so the replay has leaks to find.

    python benchmarks/gen_mixed_capture.py out.pcap --size-mb 200 [--profile sequential] [--run RUN_DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.captures.writer import PcapWriter, TcpConversation, udp  # noqa: E402
from sandbox.simulate import wire  # noqa: E402
from sandbox.simulate.dna import fastq, qualities, random_codes, sample_reads  # noqa: E402

MSS = 1448  # 1500 MTU - 20 IP - 20 TCP - 12 TCP timestamp option
PIECE = 64 << 10  # bytes a flow sends before the scheduler moves to the next open flow
INSTRUMENT = "10.20.0.5"


TELEMETRY_LINE = 170  # bytes of one NDJSON telemetry line, about


@dataclass(frozen=True)
class Profile:
    concurrency: int  # flows open at once
    mix: tuple[tuple[str, float], ...]  # share of flows per kind
    upload_share: float  # of the bytes, in random uploads (1.0: all but the FASTQ flows)
    telemetry_share: float  # of the bytes, in telemetry (0: one heartbeat line per POST)
    telemetry_posts: int  # POSTs per telemetry connection


PROFILES = {
    # uploads carry most of the bytes; telemetry is small heartbeats
    "interleaved": Profile(8, (("upload", 0.55), ("telemetry", 0.35), ("fastq", 0.10)), 1.0, 0.0, 20),
    # flows one after another; 40% of the bytes random uploads, 35% NDJSON telemetry, 25% FASTQ text
    "sequential": Profile(1, (("upload", 0.25), ("telemetry", 0.45), ("fastq", 0.30)), 0.40, 0.35, 20),
}


def _upload(rng: np.random.Generator, host: str, size: int) -> Iterator[tuple[bytes, bool]]:
    head = wire.http_request("POST", "/v1/objects/batch.bin", host, b"", content_type="application/octet-stream")
    head = head.replace(b"Content-Length: 0", b"Content-Length: %d" % size)
    yield head, True
    for off in range(0, size, PIECE):
        yield rng.bytes(min(PIECE, size - off)), True
    yield wire.http_response(b'{"stored":true}'), False


def _telemetry(rng: np.random.Generator, host: str, posts: int, lines: int) -> Iterator[tuple[bytes, bool]]:
    seq = 0
    for _ in range(posts):
        rows = []
        for _ in range(lines):
            rows.append(json.dumps({"seq": seq, "state": "Running", "cycle": int(rng.integers(1, 320)),
                                    "tile": int(rng.integers(1101, 2119)), "temps": rng.normal(30, 2, 4).round(2).tolist(),
                                    "fluidics": "ok", "laser_mw": round(float(rng.normal(80, 1)), 2)}).encode())
            seq += 1
        body = b"\n".join(rows) + b"\n"
        ctype = "application/json" if lines == 1 else "application/x-ndjson"
        yield wire.http_request("POST", "/api/v1/status", host, body, content_type=ctype), True
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
             seed: int = 0, profile: str = "interleaved") -> dict[str, float]:
    """Write the capture; returns counts and timing."""
    started = time.perf_counter()
    prof = PROFILES[profile]
    rng = np.random.default_rng(seed)
    text = _fastq_text(run, rng)
    kinds = [k for k, share in prof.mix for _ in range(round(flows * share))]
    rng.shuffle(kinds)
    n_up, n_fq, n_tel = kinds.count("upload"), kinds.count("fastq"), kinds.count("telemetry")
    lines = max(1, int(size * prof.telemetry_share) // max(n_tel * prof.telemetry_posts * TELEMETRY_LINE, 1))
    telemetry_bytes = n_tel * prof.telemetry_posts * lines * TELEMETRY_LINE
    if prof.upload_share < 1.0:
        up_size = max(PIECE, int(size * prof.upload_share) // max(n_up, 1))
        fastq_size = max(PIECE, (size - up_size * n_up - telemetry_bytes) // max(n_fq, 1))
    else:
        fastq_size = min(len(text), 256 << 10)
        up_size = max(PIECE, (size - n_fq * fastq_size) // max(n_up, 1))
    clock = 1763892000.0
    with PcapWriter(out) as w:
        pending = list(enumerate(kinds))
        active: list[tuple[TcpConversation, Iterator[tuple[bytes, bool]]]] = []
        written = 0
        while pending or active:
            while pending and len(active) < prof.concurrency:
                i, kind = pending.pop(0)
                host = f"203.0.113.{i % 250 + 1}" if kind != "telemetry" else f"198.51.100.{i % 250 + 1}"
                conv = TcpConversation(w, (INSTRUMENT, 20000 + i), (host, 80), t0=clock, mss=MSS, dt=0.00005,
                                       isn_client=i * 7919, isn_server=i * 104729)
                steps = (_upload(rng, host, up_size) if kind == "upload"
                         else _telemetry(rng, host, prof.telemetry_posts, lines) if kind == "telemetry"
                         else _fastq(text, int(rng.integers(0, 1 << 30)), fastq_size, host))
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


# The unfavourable case: content that is all repetition (a run of one letter, zero padding) and
# small zero-padded UDP datagrams (DHCP/BOOTP messages are padded to 300+ bytes).
REPETITIVE_UPLOAD = 17 << 20
DHCP_DATAGRAMS = 20_000


def generate_repetitive(out: Path) -> dict[str, float]:
    """A 17 MB upload of one letter, one of zero bytes, and DHCP-like zero-padded datagrams."""
    started = time.perf_counter()
    clock = 1763892000.0
    with PcapWriter(out) as w:
        written = 0
        for i, body in enumerate((b"A" * REPETITIVE_UPLOAD, bytes(REPETITIVE_UPLOAD))):
            host = f"203.0.113.{200 + i}"
            conv = TcpConversation(w, (INSTRUMENT, 30000 + i), (host, 80), t0=clock, mss=MSS, dt=0.00005,
                                   isn_client=i * 7919, isn_server=i * 104729)
            head = wire.http_request("POST", "/v1/objects/pad.bin", host, b"", content_type="application/octet-stream")
            conv.send(head.replace(b"Content-Length: 0", b"Content-Length: %d" % len(body)))
            for off in range(0, len(body), PIECE):
                conv.send(body[off:off + PIECE])
            conv.send(wire.http_response(b'{"stored":true}'), from_client=False)
            conv.close()
            clock = conv.t
            written += len(body)
        for n in range(DHCP_DATAGRAMS):
            bootp = b"\x01\x01\x06\x00" + n.to_bytes(4, "big") + bytes(228) + b"\x63\x82\x53\x63\x35\x01\x01\xff"
            udp(w, (INSTRUMENT, 68), ("255.255.255.255", 67), bootp + bytes(548 - len(bootp)), clock + n * 0.001)
            written += 548
        packets = w.packets
    return {"bytes": out.stat().st_size, "payload_bytes": written, "packets": packets, "flows": 3,
            "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--size-mb", type=int, default=200, help="approximate payload size (default 200)")
    p.add_argument("--flows", type=int, default=400)
    p.add_argument("--run", type=Path, help="run folder whose FASTQ text some flows carry")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", choices=sorted(PROFILES), default="interleaved")
    args = p.parse_args(argv)
    stats = generate(args.out, size=args.size_mb << 20, flows=args.flows, run=args.run, seed=args.seed,
                     profile=args.profile)
    print(f"{args.out}: {stats['bytes'] / 1e6:.1f} MB, {stats['packets']} packets, {stats['flows']} flows, "
          f"written in {stats['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
