"""What making the traffic's strings safe costs on the hot path, side by side with what it replaced.

Anchor: the plain decode the parsers did before (``bytes.decode("latin-1")`` of a DNS name, a label
tuple built as is).  Cases: labels that repeat (every HTTP payload of a flow: the cache hits), unique
DNS names (a tunnel: every name is new, the unfavourable case), a hostile 1 MB header value (bounded),
names full of escapes and reads, and redacting the findings of a correlator against a run index (done
on every store refresh).  Prints microseconds per call and the ratio to the anchor.

    .venv/bin/python benchmarks/safe_text.py [--n 200000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.correlate.redact import Redactor  # noqa: E402
from sandbox.index import build_index  # noqa: E402
from sandbox.model import Finding  # noqa: E402
from sandbox.safetext import safe_text  # noqa: E402
from sandbox.simulate.runfolder import make_illumina_run  # noqa: E402


def per_call(fn, items) -> float:
    """Best of three passes, microseconds per item."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return best / len(items) * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="strings per case")
    args = ap.parse_args(argv)
    n = args.n
    read = b"CCAAATGGTCGACCCCGATCGCCATACAAATTGTAGATTTGACCATCCGACAGGTAAGCCAAATTTCAAGGTTTCTC"
    cases = {
        "repeated labels": [b"http/1.1 POST /api/v2/upload"] * n,
        "unique DNS names": [(os.urandom(24).hex() + ".t.evil.example").encode() for _ in range(n)],
        "hostile names": [b"a\x1b[2J\xff" + read + os.urandom(4).hex().encode() + b"\x07\n" for _ in range(n // 10)],
        "1 MB header": [os.urandom(8).hex().encode() + b"x" * (1 << 20) for _ in range(50)],
    }
    print(f"{'case':18} {'anchor us':>10} {'safe_text us':>13} {'ratio':>7}")
    for name, items in cases.items():
        anchor = per_call(lambda b: b.decode("latin-1"), items)
        ours = per_call(safe_text, items)
        print(f"{name:18} {anchor:10.3f} {ours:13.3f} {ours / anchor:6.1f}x")

    with tempfile.TemporaryDirectory(prefix="sbx-safe-text-") as tmp:
        run = make_illumina_run(Path(tmp) / "runs", reads_per_sample=2000, with_bcl=False)
        index = build_index(run, cache_dir=Path(tmp) / "cache")

        def findings() -> list[Finding]:
            return [Finding(id=str(i), severity="high", kind="sequence", channel="net", flow=f"udp a:{i} > b:53",
                            destination=f"{i:08x}{read[:20].decode()}.evil.example", t_first=0, t_last=0,
                            chain=["udp", f"dns query A {i}", "base64"],
                            evidence=[{"chain": ["udp", f"dns qname {i}"]}] * 20,
                            detail={"examples": [f"{i:08x}.{read[:40].decode().lower()}.evil.example"] * 5})
                    for i in range(2000)]

        anchor = per_call(Finding.to_dict, findings())  # what the store does with every finding anyway
        for label, redactor in (("first time", Redactor([index])), ("on a refresh", None)):
            if redactor is not None:
                warm = redactor
            batch = findings()
            start = time.perf_counter()
            warm.findings(batch)
            ours = (time.perf_counter() - start) / len(batch) * 1e6
            print(f"{'redact a finding':18} {anchor:10.3f} {ours:13.3f} {ours / anchor:6.1f}x  {label} "
                  f"(anchor: Finding.to_dict)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
