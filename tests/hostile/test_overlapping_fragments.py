"""Reads in second copies of overlapping IP fragments replay as a leak.

Every fragment of a datagram sent twice, a decoy first and the reads after (and a last fragment that
completes the decoy): the rig kept the first copy of each place, as Linux once did, and the reads,
which a receiver of the instrument's own takes (the later copy wins there), replayed clean.  UDP over
IPv4 and IPv6, and a TCP connection's segments.  The controls send the same with another genome's reads
or fragments sent again the same: no content finding.
"""

from __future__ import annotations

import pytest

from sandbox.captures.writer import (
    PcapWriter,
    ethernet,
    ipv4_fragments,
    ipv6_fragments,
    tcp_segment,
    udp_datagram,
)
from sandbox.replay import replay
from tests.hostile.uploads import (
    ALLOWED,
    CONTENT_KINDS,
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
)

SRC6, DST6 = "fd00::2", "2001:db8::9"
PORT = 443     # the port hints TLS: a stream that is no TLS is read as it is all the same


def _pairs(version: int, transport: str, decoy: bytes, real: bytes, n: int) -> list[bytes]:
    """The fragments of datagram ``n``: each place's decoy copy, then the real one; the decoy's last."""
    src, dst, fragment = ("10.0.0.2", ALLOWED, ipv4_fragments) if version == 4 else (SRC6, DST6, ipv6_fragments)
    if transport == "udp":
        make = [udp_datagram(src, dst, 5000, 9000, body) for body in (decoy, real)]
    else:
        make = [tcp_segment(src, dst, 40000, PORT, 1000 + n * 1000, 1, 0x18, body) for body in (decoy, real)]
    first, second = (fragment(src, dst, 17 if transport == "udp" else 6, d, 256, ident=100 + n) for d in make)
    out = []
    for a, b in zip(first[:-1], second[:-1], strict=True):
        out += [a, b]
    return out + [first[-1]]


def _report(tmp, run, name: str, data: bytes, version: int, transport: str, same: bool = False) -> dict:
    path = tmp / f"{name}.pcap"
    with PcapWriter(path) as w:
        n = 0
        for i in range(0, len(data), 1000):
            real = data[i:i + 1000].ljust(1000, b"\n")
            for frag in _pairs(version, transport, real if same else b"x" * 1000, real, i // 1000):
                w.write(ethernet(frag), 1.0 + n * 0.001)
                n += 1
    return replay([path], [run], allow=[ALLOWED, DST6], cache_dir=tmp / "cache", jobs=1).report


CASES = [(4, "udp"), (6, "udp"), (4, "tcp")]


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "overlapping-fragments")


@pytest.mark.parametrize("version, transport", CASES)
def test_reads_in_second_copies_of_fragments_replay_as_a_leak(run_reads, version, transport):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, f"v{version}-{transport}", reads[:20000], version, transport),
                        f"IPv{version} {transport}")


@pytest.mark.parametrize("version, transport", CASES)
def test_another_genome_the_same_way_or_copies_sent_again_the_same_find_nothing(run_reads, version, transport):
    tmp, run, reads = run_reads
    report = _report(tmp, run, f"other-v{version}-{transport}", unrelated_reads("fragments")[:20000], version,
                     transport)
    assert_no_content(report)
    report = _report(tmp, run, f"same-v{version}-{transport}", unrelated_reads("same")[:20000], version, transport,
                     same=True)
    assert not [f for f in report["findings"] if f["kind"] in CONTENT_KINDS] and not report["not_examined"]
