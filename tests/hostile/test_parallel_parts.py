"""A gzip of reads behind 150 kB of noise, sent in parts over parallel connections or with a packet the
capture lost, replays as a leak.

Parts of 4 or 16 kB round-robin over 2 or 4 connections to the allowed LIMS (raw, or HTTP POSTs a part
each) replayed clean: only the first part holds the stream's start, and every other piece of every
connection starts inside it, where no decompressor opens.  A connection's upload with one packet the
capture lost was inconclusive (the stream after the hole unread).  Now a piece that opens nothing, where
a deflate stream was cut or its site carried one, is read from its first block with Huffman codes of
its own (``sandbox.decode.resync``).  A bzip2 of reads behind 400 kB of noise (blocks of 100 kB) in parts
of 128 kB over 2 connections replayed clean too: it is read from each part's first block.  The controls send random bytes, and a gzip of another genome's
reads, the same ways: no content finding.
"""

from __future__ import annotations

import bz2
import gzip
import random

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from tests.hostile.uploads import (
    ALLOWED,
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    written_report,
)

NOISE = random.Random(1).randbytes(150_000)
PARALLEL = [(conns, size, http) for conns in (2, 4) for size in (4096, 16384) for http in (False, True)]


def _parallel(path, data: bytes, conns: int, size: int, http: bool) -> None:
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    with PcapWriter(path) as w:
        flows = [TcpConversation(w, ("10.0.0.2", 40000 + k), (ALLOWED, 80 if http else 7777), t0=1.0 + k * 0.001)
                 for k in range(conns)]
        for n, part in enumerate(parts):
            flow = flows[n % conns]
            if http:
                flow.send(b"POST /upload/part/%d HTTP/1.1\r\nHost: lims.lab.example\r\nContent-Length: %d\r\n\r\n%s"
                          % (n, len(part), part))
                flow.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
            else:
                flow.send(part)
        for flow in flows:
            flow.close()


def _lost(path, data: bytes, http: bool, lost: tuple[int, ...]) -> None:
    body = b"POST /up HTTP/1.1\r\nHost: lims.lab.example\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data) \
        if http else data
    with PcapWriter(path) as w:
        flow = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80 if http else 7777), t0=1.0)
        frames = flow.build(body)
        carrying = [i for i, (_, frame) in enumerate(frames) if len(frame) > 100]
        dropped = {carrying[k] for k in lost}
        for i, (t, frame) in enumerate(frames):
            if i not in dropped:
                w.write(frame, t)
        flow.close()


WAYS = {f"parts of {size} over {conns} connections{', HTTP' if http else ''}":
        (lambda path, data, c=conns, s=size, h=http: _parallel(path, data, c, s, h)) for conns, size, http in PARALLEL}
WAYS |= {"a packet lost": lambda path, data: _lost(path, data, False, (20,)),
         "two packets of an HTTP upload lost": lambda path, data: _lost(path, data, True, (20, 60))}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "parallel-parts")


def _report(tmp, run, name: str, data: bytes, control: bool = False) -> dict:
    return written_report(tmp, run, ("other-" if control else "") + name, lambda path: WAYS[name](path, data))


@pytest.mark.parametrize("name", WAYS)
def test_a_gzip_of_reads_in_parallel_parts_or_after_a_lost_packet_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, name, gzip.compress(NOISE + reads)), name)


@pytest.mark.parametrize("http", [False, True])
def test_a_bzip2_of_reads_in_parallel_parts_replays_as_a_leak(run_reads, http):
    tmp, run, reads = run_reads
    noise = random.Random(2).randbytes(400_000)
    for data, leak in ((reads, True), (unrelated_reads("bzip2"), False)):
        path = tmp / f"bzip2-{http}-{leak}.pcap"
        _parallel(path, bz2.compress(noise + data, 1), 2, 128 << 10, http)
        report = replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
        if leak:
            assert_content_leak(report, f"bzip2 {http}")
        else:
            assert_no_content(report)


@pytest.mark.parametrize("name", WAYS)
def test_the_same_of_other_bytes_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    for data in (gzip.compress(NOISE + unrelated_reads(name)), random.Random(name).randbytes(190_000)):
        report = _report(tmp, run, name, data, control=True)
        assert_no_content(report, name)
