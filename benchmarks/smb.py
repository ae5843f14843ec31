"""What reading SMB costs: a FASTQ file written to a share, beside the same bytes as a raw TCP flow.

(a) Dissecting (capture reader, TCP, the parser; no correlation): a file written in writes of 1 MiB
(Windows' size) and in writes of 64 KiB (many messages: the unfavourable case), each beside the same
bytes sent on a port nobody parses (the raw parser: the anchor).  (b) The whole replay, in process,
one job, of the 1 MiB-write capture and of the raw one against a generated run.  (c) Messages SMB
3.1.1 compresses: the MS-XCA coders expanding FASTQ and random bytes, beside zlib inflating the same
bytes deflated (a familiar decompressor's speed; the coders' inputs are written by the tests'
writers, greedy and plain, not Windows'), and dissecting an upload of LZ77-compressed writes beside
its plain one.  Best of ``--repeat``; CPU seconds.

    .venv/bin/python benchmarks/smb.py [--mb 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.decode import fastq  # noqa: E402
from sandbox.captures import open_capture  # noqa: E402
from sandbox.captures.writer import PcapWriter, TcpConversation  # noqa: E402
from sandbox.decode import msxca  # noqa: E402
from sandbox.protocols import Dissector  # noqa: E402
from sandbox.replay import replay  # noqa: E402
from sandbox.simulate import wire  # noqa: E402
from tests.decode import xca_writer  # noqa: E402
from tests.protocols import smb_messages  # noqa: E402

MB = 1_000_000


def capture(path: Path, conversation: list[tuple[str, bytes]], port: int) -> Path:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 49800), ("192.0.2.9", port), t0=1.0)
        for direction, data in conversation:
            c.send(data, from_client=direction == "out")
        c.close()
    return path


def cpu_best(repeat: int, work) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        work()
        best = min(best, time.process_time() - t0)
    return best


def dissect(path: Path) -> None:
    d = Dissector()
    for seg in open_capture(path):
        d.feed(seg)
    d.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=32, help="size of the FASTQ file written (MB)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = fastq(args.mb * MB)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        raw = capture(folder / "raw.pcap", [("out", data)], 9999)
        print(f"{'dissect (no correlation)':44} {'CPU s':>7} {'MB/s':>8} {'vs raw':>7}")
        anchor = cpu_best(args.repeat, lambda: dissect(raw))
        print(f"{'anchor: the bytes raw on TCP 9999':44} {anchor:7.3f} {len(data) / MB / anchor:8.1f}")
        for piece in (1 << 20, 1 << 16):
            smb = capture(folder / f"smb-{piece}.pcap", wire.smb_upload("reads.fastq", data, piece=piece), 445)
            secs = cpu_best(args.repeat, lambda p=smb: dissect(p))
            print(f"{f'SMB writes of {piece >> 10} KiB':44} {secs:7.3f} {len(data) / MB / secs:8.1f} "
                  f"{secs / anchor:6.2f}x")

        from sandbox.simulate.novaseq import make_novaseq_run
        run = make_novaseq_run(folder / "runs", samples=1, reads_per_sample=2000)
        smb = folder / f"smb-{1 << 20}.pcap"
        replay([raw], [run], cache_dir=folder / "cache", jobs=1)     # the index built once, outside the timing
        times = {name: cpu_best(args.repeat, lambda p=path: replay([p], [run], cache_dir=folder / "cache", jobs=1))
                 for name, path in (("raw", raw), ("smb", smb))}
        print(f"replay, in process, one job: raw {times['raw']:.3f} s, SMB {times['smb']:.3f} s "
              f"({times['smb'] / times['raw']:.2f}x)")

        print(f"\n{'MS-XCA expansion':44} {'CPU s':>7} {'MB/s out':>8} {'vs zlib':>7}")
        sample = data[: 4 * MB]     # the tests' writers are plain Python: a few MB is their day's work
        for label, plain in (("FASTQ", sample), ("random", os.urandom(MB))):
            deflated = zlib.compress(plain, 6)
            inflate = cpu_best(args.repeat, lambda z=deflated: zlib.decompress(z))
            print(f"{f'anchor: zlib inflating {label}':44} {inflate:7.3f} {len(plain) / MB / inflate:8.1f}")
            for algorithm, write in ((msxca.LZ77, xca_writer.lz77), (msxca.LZNT1, xca_writer.lznt1),
                                     (msxca.LZ77_HUFFMAN, xca_writer.huffman)):
                packed = write(plain)
                secs = cpu_best(args.repeat, functools.partial(msxca.decompress, algorithm, packed, len(plain)))
                print(f"{f'{msxca.name(algorithm)} {label} ({len(packed) / len(plain):.2f} of its size)':44} "
                      f"{secs:7.3f} {len(plain) / MB / secs:8.1f} {secs / inflate:6.2f}x")

        plain = capture(folder / "plain.pcap", wire.smb_upload("reads.fastq", sample, piece=1 << 20), 445)
        packed = capture(folder / "lz77.pcap", wire.smb_upload(
            "reads.fastq", sample, piece=1 << 20, pack=lambda m: smb_messages.compressed(m, msxca.LZ77)), 445)
        base = cpu_best(args.repeat, lambda: dissect(plain))
        secs = cpu_best(args.repeat, lambda: dissect(packed))
        print(f"dissect an upload of LZ77-compressed 1 MiB writes: {secs:.3f} s vs {base:.3f} s plain "
              f"({secs / base:.2f}x; {len(sample) / MB / secs:.1f} MB/s of file)")


if __name__ == "__main__":
    main()
