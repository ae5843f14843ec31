"""Run data in what looks like network control: the body of an ICMP error (the packet it "quotes")
and routing protocols sent beyond the link are their sender's choice, so they are matched like any
datagram.  Before, they counted as control and each of these replayed clean."""

from __future__ import annotations

import gzip
import struct

import pytest

from sandbox.captures.writer import PcapWriter, ethernet, ip_packet, ipv6
from sandbox.replay import replay

INSTRUMENT, INSTRUMENT6, AWAY, AWAY6 = "10.0.0.2", "2001:db8::2", "203.0.113.9", "2001:db8:ff::9"


def unreachable(piece: bytes, n: int) -> bytes:
    return ip_packet(INSTRUMENT, AWAY, 1, struct.pack("!BBHI", 3, 3, 0, 0) + piece, ident=n)


def pim_register(piece: bytes, n: int) -> bytes:
    return ip_packet(INSTRUMENT, AWAY, 103, struct.pack("!BBHI", 0x21, 0, 0, 0) + piece, ident=n)


def no_next_header(piece: bytes, n: int) -> bytes:
    return ipv6(INSTRUMENT6, AWAY6, 59, piece)


@pytest.mark.parametrize(("packet", "flow"), [
    (unreachable, f"icmp {INSTRUMENT}:3 > {AWAY}:3"),
    (pim_register, f"ip {INSTRUMENT}:103 > {AWAY}:103"),
    (no_next_header, f"ip [{INSTRUMENT6}]:59 > [{AWAY6}]:59"),
])
def test_reads_in_control_messages_are_a_leak(gen_run, tmp_path, packet, flow):
    data = gzip.decompress((gen_run.path / next(iter(gen_run.fastq.values()))).read_bytes())[:20_000]
    pcap = tmp_path / "control.pcap"
    with PcapWriter(pcap) as w:
        for n, at in enumerate(range(0, len(data), 500)):
            w.write(ethernet(packet(data[at:at + 500], n)), 1.0 + n * 0.01)
    report = replay([pcap], [gen_run.path], cache_dir=tmp_path / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    leaks = [f for f in report["findings"] if f["kind"] in ("run-bytes", "sequence")]
    assert leaks and {f["flow"] for f in leaks} == {flow}
