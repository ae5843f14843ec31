"""Reads the far end pulls: it connects to a server on the instrument and downloads them.

In a recording without sides (a capture from a switch's mirror port, a control PC's Wireshark) and
without ``--instrument``, the end that opened a flow was taken for the instrument: a server beyond the
bench that connected to the instrument's port 8080 and fetched 40 kB of reads (plain, or a gzip behind
150 kB of noise) was the "instrument", the reads its download, never examined: each replayed CLEAN (a
low finding named the instrument's own address as an unlisted destination).  Between the bench (a
private, loopback or link-local address) and an address beyond it, the bench's end is now the
instrument's, whoever opened.
"""

from __future__ import annotations

import gzip
import random

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED

FAR = "203.0.113.50"        # beyond the bench; not on the allow list


def _pulled(path, body: bytes) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, (FAR, 51000), ("10.0.0.2", 8080), t0=1.0)
        c.send(b"GET /runs/42/reads HTTP/1.1\r\nHost: 10.0.0.2:8080\r\n\r\n")
        c.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n%s"
               % (len(body), body), from_client=False)
        c.close()


BODIES = {"reads": lambda reads: reads,
          "gzip behind noise": lambda reads: gzip.compress(random.Random(8).randbytes(150_000) + reads)}


@pytest.mark.parametrize("name", BODIES)
def test_reads_a_far_server_pulls_from_the_instrument_are_a_leak(reads, name):
    tmp, run, fastq = reads
    capture = tmp / f"pulled-{name.replace(' ', '-')}.pcap"
    _pulled(capture, BODIES[name](fastq))
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", name
    leaks = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leaks and all(f["destination"] == FAR for f in leaks), report["findings"]
