"""TFTP: a real tftp-hpa client and in.tftpd on lo, recorded with dumpcap; blocks in order, sent again,
out of order, wrapping; the transfer's flow oriented by its request."""

from __future__ import annotations

import getpass
import gzip
import os
import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.model import Payload
from sandbox.protocols.tftp import PIECE, TftpParser
from tests.loopback import record_lo
from tests.protocols.test_datagram_parsers_conformance import make_ctx
from tests.protocols.test_integration import dissect

rng = random.Random(4)
READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(rng.choice(b"ACGT") for _ in range(100)), b"F" * 100)
                 for i in range(600))


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tftpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """An in.tftpd of the test's own on lo (a folder it may create files in), and its port."""
    if not os.path.exists("/usr/sbin/in.tftpd"):
        pytest.skip("tftpd-hpa not installed")
    root = tmp_path_factory.mktemp("tftp-root")
    root.chmod(0o777)
    port = _free_udp_port()
    proc = subprocess.Popen(["/usr/sbin/in.tftpd", "-L", "-s", "-c", "-u", getpass.getuser(), "-a",
                             f"127.0.0.1:{port}", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield root, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _tftp(port: int, cwd: Path, command: str) -> None:
    subprocess.run(["tftp", "127.0.0.1", str(port), "-m", "binary", "-c", *command.split()], cwd=cwd,
                   check=True, capture_output=True, timeout=60)


def _file(items: list, label: str, direction: str) -> bytes:
    pieces = [p for p in items if isinstance(p, Payload) and p.chain == ("udp", label) and p.direction == direction]
    assert [p.stream_offset for p in pieces] == sorted(p.stream_offset for p in pieces)
    return b"".join(p.data for p in pieces)


def test_a_file_put_is_the_instrument_s_named_bytes(tmp_path: Path, tftpd: tuple[Path, int]) -> None:
    """The server answers the write request first, from a port of its own: the transfer is still the
    client's outbound file, whole and named, though nobody says which side the instrument is."""
    root, port = tftpd
    data = gzip.compress(os.urandom(150_000) + READS)          # longer than a block and than a piece
    (tmp_path / "run42.fastq.gz").write_bytes(data)
    with record_lo(tmp_path / "put.pcapng", "udp and host 127.0.0.1") as rec:
        _tftp(port, tmp_path, "put run42.fastq.gz")
    assert (root / "run42.fastq.gz").read_bytes() == data
    items, d = dissect(rec.path)
    assert _file(items, "tftp WRQ run42.fastq.gz", "out") == data
    assert any(p.meta.get("filename") == "run42.fastq.gz" for p in items if isinstance(p, Payload))
    followed = b"".join(p.data for p in items if isinstance(p, Payload)
                        and p.chain == ("udp", "tftp WRQ run42.fastq.gz", "gzip stream"))
    assert READS[-5000:] in followed                               # the gzip read past its first piece
    transfer = next(f for f in d.flows.values() if f.app == "tftp" and f.dport != port)
    assert transfer.bytes_out > len(data) and not transfer.errors


def test_a_file_got_comes_in(tmp_path: Path, tftpd: tuple[Path, int]) -> None:
    root, port = tftpd
    (root / "SampleSheet.csv").write_bytes(b"[Header]\nIEMFileVersion,5\n" * 200)
    with record_lo(tmp_path / "get.pcapng", "udp and host 127.0.0.1") as rec:
        _tftp(port, tmp_path, "get SampleSheet.csv")
    items, _ = dissect(rec.path)
    assert _file(items, "tftp RRQ SampleSheet.csv", "in") == (root / "SampleSheet.csv").read_bytes()
    assert not _file(items, "tftp RRQ SampleSheet.csv", "out")


def _transfer(*blocks: tuple[int, bytes]) -> tuple[TftpParser, list]:
    parser = TftpParser(make_ctx(50123))
    out: list = []
    for i, (number, block) in enumerate(blocks):
        out += parser.feed("out", b"\0\3" + number.to_bytes(2, "big") + block, float(i))
    return parser, out + parser.close(99.0)


def _raw(items: list) -> list[bytes]:
    return [p.data for p in items if isinstance(p, Payload) and p.chain == ("udp", "tftp")]


def test_a_block_sent_again_is_the_file_s_once_and_other_bytes_under_its_number_are_scanned():
    _, items = _transfer((1, b"a" * 512), (1, b"a" * 512), (2, b"b" * 512), (2, b"X" * 512), (3, b"c" * 10))
    assert _file(items, "tftp DATA", "out") == b"a" * 512 + b"b" * 512 + b"c" * 10
    assert _raw(items) == [b"\0\3\0\2" + b"X" * 512]


def test_a_block_out_of_order_is_scanned_as_it_came():
    _, items = _transfer((1, b"a" * 512), (5, b"e" * 512), (2, b"b" * 5))
    assert _file(items, "tftp DATA", "out") == b"a" * 512 + b"b" * 5
    assert _raw(items) == [b"\0\3\0\5" + b"e" * 512]


def test_block_numbers_wrap_at_65536():
    blocks = [((n + 1) & 0xFFFF, bytes([n & 0xFF])) for n in range(65540)]
    parser, items = _transfer(*blocks)
    assert _file(items, "tftp DATA", "out") == bytes(n & 0xFF for n in range(65540))
    assert not _raw(items)


def test_pieces_are_handed_on_full_and_the_rest_when_the_transfer_goes_quiet():
    parser = TftpParser(make_ctx(50123))
    out = []
    for n in range(1, PIECE // 512 + 3):
        out += parser.feed("out", b"\0\3" + n.to_bytes(2, "big") + bytes([n & 0xFF]) * 512, float(n))
    assert [len(p.data) for p in out if isinstance(p, Payload)] == [PIECE]
    rest = parser.idle(500.0)
    assert [len(p.data) for p in rest if isinstance(p, Payload)] == [1024]
    assert parser.close(501.0) == []


@pytest.mark.parametrize(("data", "port", "tftp"), [
    (b"\0\2run42.fastq\0octet\0", 69, True),
    (b"\0\1firmware.bin\0NETASCII\0blksize\x001428\0", 6969, True),
    (b"\0\4\0\0", 50123, True),
    (b"\0\3\0\1" + b"x" * 512, 50123, True),
    (b"\0\2name-without-mode\0", 69, False),
    (b"\0\2a\0binary\0", 69, False),
    (b"\0\2a\0octet\0blksize\0", 69, False),                 # an option without its value
    (b"\0\3\0\7" + b"x" * 512, 50123, False),                # a block in the middle: no start of a transfer
    (random.Random(1).randbytes(40), 69, False),
])
def test_detection(data: bytes, port: int, tftp: bool) -> None:
    assert TftpParser.detect(data, 50000, port) is tftp
