"""Decoder throughput: MB/s of ``sandbox.decode.expand`` input on three payloads.

(a) ~10 MB of gzip'd FASTQ text, (b) 10 MB of random bytes (every sniffer must reject fast),
(c) JSON whose "data" field is base64 of gzip'd FASTQ; then the fast compressors, each beside its
anchor (the library alone decompressing the same bytes, as a reader that trusts its input would):
(d) an LZ4 frame of FASTQ vs python-lz4, (e) a snappy stream of FASTQ vs cramjam, (f) a snappy
Parquet table of reads vs pyarrow reading the table; (g) FASTQ XOR-ed with a 16-byte key vs numpy
undoing it with the key known; (h) FASTQ whose bases are zero-width characters vs decoding its
UTF-8 alone, (i) FASTQ whose bases are words vs splitting it into tokens with ``re``; the archivers'
other methods: (j) a 7z archive of FASTQ in PPMd vs pyppmd alone, (k) a zip of FASTQ in Deflate64
vs inflate64 alone, (l) compress(1)'s .Z of FASTQ vs ncompress's own ``compress -d`` (a process:
its start is in the anchor); and what the
XOR, characters and words decoders cost every view of 2 KiB that holds none of it (text, JSON,
random bytes: the unfavourable case).  Best of ``--repeat`` runs; also the
MB/s of decoded output, the views produced and the notes.

    .venv/bin/python benchmarks/decode.py [--mb 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cramjam
import inflate64
import lz4.frame
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyppmd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.decode import Budget, expand  # noqa: E402
from sandbox.decode.characters import CharactersDecoder  # noqa: E402
from sandbox.decode.words import WordsDecoder  # noqa: E402
from sandbox.decode.xor import XorDecoder  # noqa: E402

MB = 1_000_000


def fastq(size: int, seed: int = 1) -> bytes:
    """Illumina-shaped FASTQ text (random bases, binned qualities) of about ``size`` bytes."""
    rng = np.random.default_rng(seed)
    n = size // 330 + 1
    bases = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, 151))]
    quals = np.frombuffer(b"FF:,#", np.uint8)[rng.choice(5, (n, 151), p=[0.8, 0.12, 0.05, 0.02, 0.01])]
    lines = []
    for i in range(n):
        lines.append(b"@A00123:8:HXXXXXXX:1:1101:%d:%d 1:N:0:ACGTACGT\n" % (1000 + i % 30000, i))
        lines.append(bases[i].tobytes() + b"\n+\n" + quals[i].tobytes() + b"\n")
    return b"".join(lines)


def gzip_of(target: int) -> bytes:
    """gzip'd FASTQ whose compressed size is about ``target`` bytes (FASTQ gzips ~3.5x)."""
    return gzip.compress(fastq(int(target * 3.6)), 6)


def parquet_of(size: int) -> bytes:
    """A snappy Parquet table (name, bases, qualities) of FASTQ reads, about ``size`` bytes raw."""
    lines = fastq(size).splitlines()
    table = pa.table({"name": lines[0::4], "bases": lines[1::4], "quals": lines[3::4]})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


def seven_zip(data: bytes, *switches: str) -> bytes:
    """``data`` archived by 7-Zip with ``switches``."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "reads.fastq").write_bytes(data)
        subprocess.run(["7zz", "a", "-bd", "-bso0", *switches, "out.archive", "reads.fastq"], cwd=tmp, check=True)
        return (Path(tmp) / "out.archive").read_bytes()


def best_of(repeat: int, work) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(name: str, data: bytes, repeat: int, anchor=None) -> None:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        exp = expand(data, ("bench",))
        best = min(best, time.perf_counter() - t0)
    out = sum(len(v.data) for v in exp.views[1:])
    chains = sorted({" > ".join(v.chain[1:]) for v in exp.views[1:]})
    print(
        f"{name:<28} in {len(data) / MB:7.2f} MB  {len(data) / MB / best:8.1f} MB/s in  "
        f"{out / MB / best:8.1f} MB/s out  {best:6.3f} s  views={len(exp.views)}"
    )
    if anchor is not None:
        alone = best_of(repeat, lambda: anchor(data))
        print(f"{'':<28} anchor {alone:6.3f} s: expand takes {best / alone:5.1f}x the library alone")
    for chain in chains[:4]:
        print(f"{'':<28} view: {chain}")
    for note in exp.notes:
        print(f"{'':<28} note: {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=10.0, help="size of each input in MB")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    size = int(args.mb * MB)
    gz = gzip_of(size)
    measure("(a) gzip'd FASTQ", gz, args.repeat)
    measure("(b) random bytes", os.urandom(size), args.repeat)
    inner = gzip_of(int(size * 0.75))
    doc = json.dumps({"run": "A00123_0008", "data": base64.b64encode(inner).decode()}).encode()
    measure("(c) JSON > base64 > gzip", doc, args.repeat)
    text = fastq(size)
    measure("(d) LZ4 FASTQ", lz4.frame.compress(text), args.repeat, lz4.frame.decompress)
    measure("(e) snappy FASTQ", bytes(cramjam.snappy.compress(text)), args.repeat, cramjam.snappy.decompress)
    # one thread, as expand has (pyarrow's thread pool also aborts at exit beside python-lz4 or cramjam)
    measure("(f) snappy Parquet of reads", parquet_of(size * 3), args.repeat,
            lambda d: pq.read_table(io.BytesIO(d), use_threads=False))
    key = np.frombuffer(os.urandom(16), np.uint8)
    measure("(g) FASTQ under a 16-byte XOR", (np.frombuffer(text, np.uint8) ^ np.resize(key, len(text))).tobytes(),
            args.repeat, lambda d: (np.frombuffer(d, np.uint8) ^ np.resize(key, len(d))).tobytes())
    sample = text[: size // 4]
    zero_width = sample.decode().translate(str.maketrans("ACGT", "\u200b\u200c\u200d\u2060")).encode()
    measure("(h) bases as zero-width chars", zero_width, args.repeat, lambda d: d.decode("utf-8"))
    words = re.sub(rb"[ACGT]", lambda m: {b"A": b"apple ", b"C": b"cherry ", b"G": b"grape ", b"T": b"tomato "}[m.group()],
                   sample[: size // 8])
    measure("(i) bases as words", words, args.repeat, lambda d: re.findall(rb"\w+", d))
    archive = seven_zip(text, "-m0=PPMd")
    order, memory = 6, 16 << 20  # 7-Zip's defaults, as the archive's coder says
    measure("(j) 7z of FASTQ in PPMd", archive, args.repeat,
            lambda d: pyppmd.Ppmd7Decoder(order, memory).decode(d[32:], len(text)))
    zipped = seven_zip(text, "-tzip", "-mm=Deflate64")
    start = 30 + sum(struct.unpack_from("<HH", zipped, 26))
    measure("(k) zip of FASTQ in Deflate64", zipped, args.repeat,
            lambda d: inflate64.Inflater().inflate(d[start:]))
    dot_z = subprocess.run(["compress", "-c"], input=text, capture_output=True, check=True).stdout
    measure("(l) compress .Z of FASTQ", dot_z, args.repeat,
            lambda d: subprocess.run(["compress", "-dc"], input=d, capture_output=True, check=True).stdout)
    telemetry = json.dumps([{"tile": i, "density": i * 7 % 1300, "pf": 0.8} for i in range(40)]).encode()[:2048]
    for dec in (XorDecoder, CharactersDecoder, WordsDecoder):
        for name, view in (("FASTQ", text[:2048]), ("JSON", telemetry), ("random", os.urandom(2048))):
            def step(v=view, d=dec):
                for _ in range(2000):
                    if d.sniff(v):
                        list(d.decode(v, Budget(1 << 30, "benchmark")))
            per = best_of(args.repeat, step) / 2000
            print(f"{dec.name + ', 2 KiB ' + name:<28} {per * 1e6:6.1f} us a view")


if __name__ == "__main__":
    main()
