"""benchmarks/gen_mixed_capture.py: the mixed capture is valid, interleaved and as big as asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from gen_mixed_capture import MSS, generate  # noqa: E402


def test_mixed_capture(tmp_path):
    out = tmp_path / "mixed.pcap"
    stats = generate(out, size=3 << 20, flows=40, seed=1)
    assert stats["flows"] == 40 and stats["bytes"] >= 3 << 20
    fields = subprocess.run(["tshark", "-r", str(out), "-T", "fields", "-e", "tcp.stream", "-e", "tcp.len",
                             "-e", "http.request.method"], capture_output=True, text=True, check=True,
                            timeout=60).stdout.splitlines()
    rows = [line.split("\t") for line in fields]
    streams = [int(r[0]) for r in rows]
    assert len(set(streams)) == 40
    assert max(int(r[1]) for r in rows) == MSS
    switches = sum(a != b for a, b in zip(streams, streams[1:], strict=False))
    assert switches > 80  # flows interleave, they are not written one after another
    assert sum(r[2] == "POST" for r in rows) > 40
