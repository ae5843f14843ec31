"""Reads sent to a protocol's port without the protocol replay as a leak.

When nothing recognises a flow by its content, the parser of its port reads it.  A gzip of reads sent
to port 443 (or 465, 853, 993, 8443) with no TLS was counted as ciphertext and nothing else; sent to
25, 587 or 2525 with no SMTP its "command lines" were dropped (lines of an unknown verb too): each
replayed clean.  Every port a parser hints at, TCP and UDP, is tried; the controls send another
genome's reads the same way: no content finding.
"""

from __future__ import annotations

import gzip

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation, ipv4, link_frame, udp_datagram
from sandbox.protocols import registry
from sandbox.replay import replay
from tests.hostile.uploads import (
    ALLOWED,
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
)

TCP_PORTS = sorted({p for cls in registry.STREAM_PARSERS for p in getattr(cls, "ports", ())} | {25, 587, 2525})
UDP_PORTS = sorted({p for cls in registry.DATAGRAM_PARSERS for p in getattr(cls, "ports", ())})


def _report(tmp, run, transport: str, port: int, body: bytes, name: str) -> dict:
    path = tmp / f"{name}-{transport}{port}.pcap"
    with PcapWriter(path) as w:
        if transport == "tcp":
            c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, port), t0=1.0)
            c.send(body)
            c.close()
        else:
            for n, at in enumerate(range(0, len(body), 1000)):
                datagram = udp_datagram("10.0.0.2", ALLOWED, 40000, port, body[at:at + 1000])
                w.write(link_frame(w.linktype, ipv4("10.0.0.2", ALLOWED, 17, datagram, ident=n)), 1 + n * 0.001)
    return replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "port-hinted")


PORTS = [("tcp", p) for p in TCP_PORTS] + [("udp", p) for p in UDP_PORTS]


@pytest.mark.parametrize("transport, port", PORTS)
def test_a_gzip_of_reads_on_a_protocol_s_port_without_it_replays_as_a_leak(run_reads, transport, port):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, transport, port, gzip.compress(reads), "reads"), f"{transport} {port}")


@pytest.mark.parametrize("transport, port", PORTS)
def test_another_genome_the_same_way_finds_nothing(run_reads, transport, port):
    tmp, run, _ = run_reads
    report = _report(tmp, run, transport, port, gzip.compress(unrelated_reads(f"{transport}{port}")), "other")
    assert_no_content(report)
