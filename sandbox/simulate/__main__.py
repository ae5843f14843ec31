"""``python -m sandbox.simulate``: write simulated run folders and the demo capture."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .demo import build_demo
from .nanopore import make_nanopore_run
from .runfolder import make_illumina_run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox.simulate", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="write the demo run folder, capture and ground truth (byte-identical)")
    d.add_argument("dest", type=Path)
    il = sub.add_parser("illumina", help="write a MiSeq-style run folder")
    il.add_argument("dest", type=Path)
    il.add_argument("--seed", type=int, default=0)
    il.add_argument("--samples", type=int, default=3)
    il.add_argument("--reads", type=int, default=2000, help="reads per sample")
    il.add_argument("--read-len", type=int, default=151)
    il.add_argument("--no-bcl", action="store_true", help="FASTQ only, no BCL tile")
    on = sub.add_parser("nanopore", help="write a MinKNOW-style output folder")
    on.add_argument("dest", type=Path)
    on.add_argument("--seed", type=int, default=0)
    on.add_argument("--barcodes", type=int, default=2)
    on.add_argument("--reads", type=int, default=200, help="reads per barcode")
    args = p.parse_args(argv)
    if args.command == "demo":
        run_dir, capture = build_demo(args.dest)
        print(f"run: {run_dir}\ncapture: {capture}")
    elif args.command == "illumina":
        print(make_illumina_run(args.dest, seed=args.seed, samples=args.samples, reads_per_sample=args.reads,
                                read_len=args.read_len, with_bcl=not args.no_bcl))
    else:
        print(make_nanopore_run(args.dest, seed=args.seed, barcodes=args.barcodes, reads_per_barcode=args.reads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
