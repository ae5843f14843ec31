"""Reads uploaded by TFTP, as a conformant client and server exchange them.

The server answers a write request from a port of its own, with an ACK of block 0: the transfer's flow
was taken as opened by the server, so the blocks the instrument sent were read as coming in and never
examined: 40 kB of reads replayed CLEAN.  A gzip of them behind 150 kB of noise was read a 512-byte
block at a time (the gzip broken at every block header) and replayed CLEAN too, even sent first.
Now the request orients the transfer and its blocks are the file.
"""

from __future__ import annotations

import gzip
import random
import struct

import pytest

from sandbox.captures.writer import PcapWriter, udp
from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED

INSTRUMENT = ("10.0.0.2", 40100)


def _upload(path, data: bytes, server_first: bool) -> None:
    server = (ALLOWED, 50123)
    with PcapWriter(path) as w:
        udp(w, INSTRUMENT, (ALLOWED, 69), b"\0\2run42.fastq.gz\0octet\0", t=1.0)
        if server_first:
            udp(w, server, INSTRUMENT, b"\0\4\0\0", t=1.01)
        for n, at in enumerate(range(0, len(data) + 1, 512), start=1):
            udp(w, INSTRUMENT, server, struct.pack(">HH", 3, n & 0xFFFF) + data[at: at + 512], t=1.02 + n * 1e-4)
            udp(w, server, INSTRUMENT, struct.pack(">HH", 4, n & 0xFFFF), t=1.02 + n * 1e-4)


CASES = {
    "reads, server answers first": (lambda reads: reads, True),
    "gzip behind noise, server answers first": (lambda reads: gzip.compress(random.Random(5).randbytes(150_000) + reads),
                                                True),
    "gzip behind noise, client sends first": (lambda reads: gzip.compress(random.Random(5).randbytes(150_000) + reads),
                                              False),
}


@pytest.mark.parametrize("name", CASES)
def test_reads_uploaded_by_tftp_are_a_leak(reads, name):
    tmp, run, fastq = reads
    make, server_first = CASES[name]
    capture = tmp / f"tftp-{name.replace(' ', '-').replace(',', '')}.pcap"
    _upload(capture, make(fastq), server_first)
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", name
    leaks = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leaks and all(f["destination"] == ALLOWED for f in leaks), report["findings"]
    assert any("tftp WRQ run42.fastq.gz" in f["chain"] for f in leaks)
