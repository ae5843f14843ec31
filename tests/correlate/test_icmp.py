"""Run data in the ICMP messages an instrument sends: echo bodies and the "quoted packet" of an error
are its choice, so both are matched like any datagram."""

from __future__ import annotations

import gzip
import struct

from sandbox.captures.writer import PcapWriter, ethernet, ip_packet
from sandbox.replay import replay


def test_reads_in_the_quoted_packet_of_icmp_errors_are_a_leak(gen_run, tmp_path):
    """A port-unreachable "quoting" 500 bytes of FASTQ at a time: before, ICMP errors counted as
    control and the replay said clean."""
    data = gzip.decompress((gen_run.path / next(iter(gen_run.fastq.values()))).read_bytes())[:20_000]
    pcap = tmp_path / "icmp-errors.pcap"
    with PcapWriter(pcap) as w:
        for n, at in enumerate(range(0, len(data), 500)):
            icmp = struct.pack("!BBHI", 3, 3, 0, 0) + data[at:at + 500]
            w.write(ethernet(ip_packet("10.0.0.2", "203.0.113.9", 1, icmp, ident=n)), 1.0 + n * 0.01)
    report = replay([pcap], [gen_run.path], cache_dir=tmp_path / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    leaks = [f for f in report["findings"] if f["kind"] in ("run-bytes", "sequence")]
    assert leaks and {f["flow"] for f in leaks} == {"icmp 10.0.0.2:3 > 203.0.113.9:3"}
