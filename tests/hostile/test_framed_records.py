"""A gzip of reads behind 150 kB of noise, sent in length-prefixed records on a port no parser knows,
replays as a leak.  Each replayed clean before: the header at the head of each record (a length of
four bytes as Kafka and Thrift frame, a length and a sequence number, MySQL's packet header, an 8-byte
header as TDS's, a 16-byte one as MongoDB's, a JSON line naming the chunk's length; the records after
a banner and a greeting) broke the compressed stream, and the rest was read as random bytes.  Now the
records' bodies are followed as one stream.  Records of less than 256 bytes on average (32, 64, 200)
replayed clean still: they were taken for messages, and records of 68 bytes behind a little-endian
length of 64 also fit a big-endian one (0x4000: records of 241 of them).  Header bytes a length does
not count other than 0, 1, 2, 4 or 8 (an offset and a 20-byte tag, 13 bytes, 40) replayed clean too:
now any count up to 64 is tried where no usual framing fits."""

from __future__ import annotations

import gzip
import random
import struct
import zlib

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED, novaseq_reads

NOISE = random.Random(2).randbytes(150_000)


def _records(stream: bytes, size: int, header) -> bytes:
    return b"".join(header(n, stream[i:i + size]) for n, i in enumerate(range(0, len(stream), size)))


FRAMINGS = {
    "a length, 4 bytes": (lambda n, c: struct.pack(">I", len(c)) + c, 16384, 7777),
    "a length, a sequence number and a CRC": (lambda n, c: struct.pack(">IIi", len(c) + 8, n,
                                                                        zlib.crc32(c) - (1 << 31)) + c, 16384, 7777),
    "MySQL's packet header": (lambda n, c: struct.pack("<I", len(c))[:3] + bytes([n & 255]) + c, 16384, 3306),
    "TDS's 8-byte header": (lambda n, c: struct.pack(">BBHHBB", 7, 0, len(c) + 8, 52, n & 255, 0) + c, 4088, 1433),
    "MongoDB's 16-byte header": (lambda n, c: struct.pack("<iiii", len(c) + 16, n, 0, 2013) + c, 32768, 27017),
    "a banner and a greeting, then a length and a sequence number": (
        lambda n, c: (b"VENDOR-LINK 2.1 ready\r\nHELLO instrument=M07011\n" if n == 0 else b"")
        + struct.pack(">II", len(c) + 4, n) + c, 16384, 7777),
    "a JSON line before each chunk": (lambda n, c: b'{"seq":%d,"len":%d,"type":"chunk"}\n' % (n, len(c)) + c,
                                      16384, 7777),
    "a length, 4 bytes, records of 32": (lambda n, c: struct.pack(">I", len(c)) + c, 32, 7777),
    "a little-endian length and a sequence number, records of 64": (
        lambda n, c: struct.pack("<HH", len(c), n & 0xFFFF) + c, 64, 7777),
    "a length, 2 bytes, records of 200": (lambda n, c: struct.pack(">H", len(c)) + c, 200, 7777),
    # header bytes a length does not count, past the usual 0, 1, 2, 4 or 8
    "a length, an offset and a 20-byte tag, records of 200": (
        lambda n, c: struct.pack("<IQ", len(c), 200 * n) + random.Random(n).randbytes(20) + c, 200, 7777),
    "a length and 13 header bytes, records of 1000": (
        lambda n, c: struct.pack(">I", len(c)) + struct.pack(">IIIB", n, 7, 0, 1) + c, 1000, 7777),
    "a 2-byte length and a 40-byte header, records of 512": (
        lambda n, c: struct.pack("<H", len(c)) + bytes(8) + random.Random(n).randbytes(32) + c, 512, 7777),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("framed")
    run, fastq = novaseq_reads(tmp, 300)
    return tmp, run, fastq[:40000]


def _report(tmp, run, name: str, data: bytes, port: int) -> dict:
    path = tmp / f"{name.replace(' ', '-')}.pcap"
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, port), t0=1.0)
        c.send(data)
        c.close()
    return replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report


@pytest.mark.parametrize("name", FRAMINGS)
def test_a_gzip_in_framed_records_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    header, size, port = FRAMINGS[name]
    report = _report(tmp, run, name, _records(gzip.compress(NOISE + reads), size, header), port)
    assert report["verdict"] == "leak", name
    (leak,) = [f for f in report["findings"] if f["kind"] == "run-bytes"]
    assert leak["severity"] in ("high", "critical") and "records" in leak["chain"]


@pytest.mark.parametrize("name", FRAMINGS)
def test_random_bytes_in_framed_records_find_nothing(run_reads, name):
    tmp, run, _ = run_reads
    header, size, port = FRAMINGS[name]
    report = _report(tmp, run, f"random {name}", _records(random.Random(name).randbytes(190_000), size, header), port)
    assert not [f for f in report["findings"] if f["kind"] in ("sequence", "run-bytes", "identifier")]
