"""Reads written into header fields a packet's sender chooses replay as a leak.

With a raw socket a program writes what it likes into fields no application reads (Covert_TCP hid files
in IPv4 identifications and TCP initial sequence numbers).  Each of these, two to four bytes a packet of
the reads (or a gzip of them), to the allowed LIMS without a byte of payload, replayed clean: the IPv4
identification, type of service and TTL, the IPv6 flow label and hop limit, a TCP connection's windows,
urgent pointers without URG, timestamps and their echoes, options of registered kinds (an MD5 signature,
SACK blocks: 16 bytes a packet), a SYN a word's initial sequence numbers or source ports, a datagram a
word's source ports, ICMP echo identifiers and sequence numbers; and in what a counter steps by (an
identification or a timestamp raised by a byte each packet) or in a packet's size (a datagram or a
segment of as many bytes as a byte of the file), or in the delays between packets (a ping as many
milliseconds after the one before) or between connections (a SYN, or a datagram from a new port, likewise).  The controls carry random
bytes and another genome's reads the same ways, and traffic whose fields a stack chose (random
identifications, initial sequence numbers and ports): no content finding.
"""

from __future__ import annotations

import gzip
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, checksum, ipv4, ipv6, link_frame, tcp_segment, udp_datagram
from sandbox.replay import replay
from tests.hostile.uploads import (
    ALLOWED,
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
)

SRC, SRC6, DST6 = "10.0.0.2", "fd00::2", "2001:db8::9"
ACK, SYN = 0x10, 0x02


def _words(data: bytes, size: int) -> list[int]:
    data += bytes(-len(data) % size)
    return [int.from_bytes(data[i:i + size], "big") for i in range(0, len(data), size)]


def _echo(ident: int, seq: int, v6: bool = False) -> bytes:
    head = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, ident, seq)
    if v6:      # the checksum of ICMPv6 covers a pseudo-header: left zero, as no reader checks it here
        return head
    return head[:2] + struct.pack("!H", checksum(head)) + head[4:]


def _echo6(n: int, **field: int) -> bytes:
    return ipv6(SRC6, DST6, 58, _echo(7, n, v6=True), **field)


def _acks(values: list[int], **field: Callable[[int], int]) -> list[bytes]:
    """ACKs of one connection, a value each in the field named (window, urgent)."""
    name, = field
    return [ipv4(SRC, ALLOWED, 6, tcp_segment(SRC, ALLOWED, 40000, 443, 1000, 5000 + n, ACK, **{name: v}), ident=n)
            for n, v in enumerate(values)]


def _options(values: list[bytes]) -> list[bytes]:
    """ACKs of one connection, each with the TCP options given."""
    return [ipv4(SRC, ALLOWED, 6, tcp_segment(SRC, ALLOWED, 40000, 443, 1000, 5000 + n, ACK, options=v), ident=n)
            for n, v in enumerate(values)]


def _raised(data: bytes, start: int, width: int) -> list[int]:
    """A counter raised by each byte of ``data`` in turn."""
    out = []
    for b in data:
        start = (start + b) % (1 << width)
        out.append(start)
    return out


def _segments(data: bytes) -> list[bytes]:
    """A TCP connection's segments of as many bytes (zeros) as each byte of ``data`` says."""
    out, seq = [], 1000
    for n, b in enumerate(data):
        out.append(ipv4(SRC, ALLOWED, 6, tcp_segment(SRC, ALLOWED, 40000, 7000, seq, 1, 0x18, bytes(b)), ident=n))
        seq += b
    return out


def _from_new_ports(data: bytes) -> list[bytes]:
    """Datagrams of as many bytes as each byte of ``data`` says, each from a new socket (a random port:
    some come again a few hundred datagrams later)."""
    rng = random.Random(len(data))
    return [ipv4(SRC, ALLOWED, 17, udp_datagram(SRC, ALLOWED, rng.randrange(32768, 61000), 9000, bytes(b)),
                 ident=rng.getrandbits(16)) for b in data]


def _pieces(data: bytes, size: int) -> list[bytes]:
    data += bytes(-len(data) % size)
    return [data[i:i + size] for i in range(0, len(data), size)]


CHANNELS: dict[str, Callable[[bytes], list[bytes]]] = {
    "IPv4 identification of echo requests": lambda d: [
        ipv4(SRC, ALLOWED, 1, _echo(7, n), ident=v) for n, v in enumerate(_words(d, 2))],
    "IPv4 TTL of echo requests": lambda d: [ipv4(SRC, ALLOWED, 1, _echo(7, n), ident=n, ttl=b) for n, b in enumerate(d)],
    "IPv4 type of service of datagrams": lambda d: [
        ipv4(SRC, ALLOWED, 17, udp_datagram(SRC, ALLOWED, 5000, 9000, b"ping"), ident=n, tos=b) for n, b in enumerate(d)],
    "IPv6 flow label": lambda d: [_echo6(n, flow_label=v) for n, v in enumerate(_words(d, 2))],
    "IPv6 hop limit": lambda d: [_echo6(n, hop_limit=b) for n, b in enumerate(d)],
    "TCP windows of ACKs": lambda d: _acks(_words(d, 2), window=int),
    "TCP urgent pointers without URG": lambda d: _acks(_words(d, 2), urgent=int),
    "TCP timestamp values": lambda d: _options([b"\x01\x01\x08\x0a" + p + b"\0\0\0\x4d" for p in _pieces(d, 4)]),
    "TCP timestamp echoes": lambda d: _options([b"\x01\x01\x08\x0a\0\0\0\x4d" + p for p in _pieces(d, 4)]),
    "TCP MD5 signature options": lambda d: _options([b"\x13\x12" + p for p in _pieces(d, 16)]),
    "TCP SACK blocks": lambda d: _options([b"\x01\x01\x05\x12" + p for p in _pieces(d, 16)]),
    "initial sequence numbers, a SYN a word": lambda d: [
        ipv4(SRC, ALLOWED, 6, tcp_segment(SRC, ALLOWED, 30000 + n % 30000, 443, v, 0, SYN), ident=n)
        for n, v in enumerate(_words(d, 4))],
    "source ports, a SYN a word": lambda d: [
        ipv4(SRC, ALLOWED, 6, tcp_segment(SRC, ALLOWED, v, 443, 77 * n, 0, SYN), ident=n) for n, v in enumerate(_words(d, 2))],
    "source ports, a datagram a word": lambda d: [
        ipv4(SRC, ALLOWED, 17, udp_datagram(SRC, ALLOWED, v, 53, b""), ident=n) for n, v in enumerate(_words(d, 2))],
    "echo identifiers and sequence numbers": lambda d: [
        ipv4(SRC, ALLOWED, 1, _echo(v >> 16, v & 0xFFFF), ident=n) for n, v in enumerate(_words(d, 4))],
    "echo sequence numbers": lambda d: [ipv4(SRC, ALLOWED, 1, _echo(9, v), ident=n) for n, v in enumerate(_words(d, 2))],
    "IPv4 identification raised by a byte": lambda d: [
        ipv4(SRC, ALLOWED, 1, _echo(7, n), ident=v) for n, v in enumerate(_raised(d, 7000, 16))],
    "TCP timestamp values raised by a byte": lambda d: _options(
        [b"\x01\x01\x08\x0a" + struct.pack("!II", v, 77) for v in _raised(d, 123456, 32)]),
    "datagram sizes": lambda d: [
        ipv4(SRC, ALLOWED, 17, udp_datagram(SRC, ALLOWED, 5000, 9000, bytes(b)), ident=n) for n, b in enumerate(d)],
    "segment sizes": _segments,
    "datagram sizes, from a new port each": _from_new_ports,
}
GZIPPED = ("IPv4 identification of echo requests", "initial sequence numbers, a SYN a word", "TCP windows of ACKs",
           "TCP MD5 signature options", "IPv4 identification raised by a byte", "datagram sizes", "segment sizes",
           "datagram sizes, from a new port each")


def _report(tmp: Path, run: Path, name: str, packets: list[bytes], times: list[float] | None = None) -> dict:
    path = tmp / f"{name.replace(' ', '-').replace(',', '')}.pcap"
    with PcapWriter(path) as w:
        for n, packet in enumerate(packets):
            w.write(link_frame(w.linktype, packet), times[n] if times else 1.0 + n * 0.002)
    return replay([path], [run], allow=[ALLOWED, DST6], cache_dir=tmp / "cache", jobs=1).report


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "header-fields")


@pytest.mark.parametrize("name", CHANNELS)
def test_reads_in_a_header_field_replay_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, name, CHANNELS[name](reads[:4000])), name)


@pytest.mark.parametrize("name", GZIPPED)
def test_a_gzip_of_reads_in_a_header_field_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, f"gzip {name}", CHANNELS[name](gzip.compress(reads[:20000]))), name)


@pytest.mark.parametrize("name", CHANNELS)
def test_the_same_of_other_bytes_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    for data in (unrelated_reads(name, 30)[:4000], random.Random(name).randbytes(4000)):
        report = _report(tmp, run, f"other {name}", CHANNELS[name](data))
        assert_no_content(report, name)


def _delays(data: bytes) -> list[float]:
    """A packet's time each, after as many milliseconds as a byte of ``data`` (and a tenth of one of jitter)."""
    rng, t, times = random.Random(13), 1.0, []
    for b in data:
        t += (b + rng.uniform(-0.1, 0.1)) / 1000
        times.append(t)
    return times


@pytest.mark.parametrize("gzipped", [False, True])
def test_reads_in_the_delays_between_packets_replay_as_a_leak(run_reads, gzipped):
    """A timing channel: pings, each as many milliseconds after the one before as a byte of the reads."""
    tmp, run, reads = run_reads
    data = gzip.compress(reads[:8000]) if gzipped else reads[:3000]
    pings = [ipv4(SRC, ALLOWED, 1, _echo(7, n), ident=n) for n in range(len(data) + 1)]
    report = _report(tmp, run, f"delays {gzipped}", pings, _delays(b"\0" + data))
    assert_content_leak(report, "delays")
    other = random.Random(14).randbytes(3000)
    report = _report(tmp, run, f"other delays {gzipped}", pings[:3001], _delays(b"\0" + other))
    assert_no_content(report)


CONNECTIONS: dict[str, Callable[[int, random.Random], bytes]] = {
    "a SYN from a new port": lambda n, rng: ipv4(SRC, ALLOWED, 6, tcp_segment(
        SRC, ALLOWED, rng.randrange(32768, 61000), 443, rng.getrandbits(32), 0, SYN), ident=rng.getrandbits(16)),
    "a datagram from a new port": lambda n, rng: ipv4(SRC, ALLOWED, 17, udp_datagram(
        SRC, ALLOWED, rng.randrange(32768, 61000), 9000, b"status ok"), ident=rng.getrandbits(16)),
}


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("way", CONNECTIONS)
def test_reads_in_the_delays_between_connections_replay_as_a_leak(run_reads, way, gzipped):
    """A timing channel across connections: a connection (a datagram from a new port), each as many
    milliseconds after the one before as a byte of the reads, the stack's own ports and numbers."""
    tmp, run, reads = run_reads
    data = gzip.compress(reads[:8000]) if gzipped else reads[:3000]
    for leak, sent in ((True, data), (False, random.Random(15).randbytes(3000)),
                       (False, unrelated_reads(way, 30)[:3000])):
        rng = random.Random(16)
        packets = [CONNECTIONS[way](n, rng) for n in range(len(sent) + 1)]
        report = _report(tmp, run, f"connection delays {way} {gzipped} {leak}", packets, _delays(b"\0" + sent))
        if leak:
            assert_content_leak(report, way)
        else:
            assert_no_content(report, way)


def test_fields_after_a_thousand_empty_connections_are_read(run_reads):
    """Past the room the flow table's books keep for flows without payload (a flood of attempts), a SYN
    a word's initial sequence numbers were not read."""
    tmp, run, reads = run_reads
    rng = random.Random(12)
    decoys = [ipv4(SRC, ALLOWED, 6, tcp_segment(SRC, ALLOWED, 20000 + n, 443, rng.getrandbits(32), 0, SYN), ident=n)
              for n in range(1500)]
    name = "initial sequence numbers, a SYN a word"
    assert_content_leak(_report(tmp, run, "after attempts", decoys + CHANNELS[name](reads[:4000])), name)


def test_fields_a_stack_chose_find_nothing(run_reads):
    """Connections one after another with random identifications, initial sequence numbers, source ports
    and windows, datagrams from random ports, pings with a random identifier: a capture of a lab's traffic."""
    tmp, run, _ = run_reads
    rng = random.Random(11)
    packets = []
    for n in range(400):
        port, isn = rng.randrange(32768, 61000), rng.getrandbits(32)
        packets.append(ipv4(SRC, ALLOWED, 6, tcp_segment(SRC, ALLOWED, port, 443, isn, 0, SYN), ident=rng.getrandbits(16)))
        for k in range(20):
            packets.append(ipv4(SRC, ALLOWED, 6, tcp_segment(SRC, ALLOWED, port, 443, isn + 1, 900 + k, ACK,
                                                             window=rng.getrandbits(16)), ident=rng.getrandbits(16)))
        packets.append(ipv4(SRC, ALLOWED, 17, udp_datagram(SRC, ALLOWED, rng.randrange(32768, 61000), 53, b"q"),
                            ident=rng.getrandbits(16)))
        packets.append(ipv4(SRC, ALLOWED, 1, _echo(rng.getrandbits(16), n), ident=rng.getrandbits(16)))
    report = _report(tmp, run, "a stack's fields", packets)
    assert_no_content(report)
