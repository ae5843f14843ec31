"""Reads written into a database, and a compressed stream behind a header of its own.

An instrument's software that loads results into a LIMS's PostgreSQL with ``COPY ... FROM STDIN`` sends
them in CopyData messages (psycopg cuts them at 32 kB), each behind a type byte and a length: a gzip
of 40 kB of reads behind 150 kB of noise in a bytea column, copied in the text format (hex) or the
binary one, replayed CLEAN (the headers cut the stream every message).  Now the messages are read.

And a gzip that starts past the first 64 bytes of a flow (a parameter of an INSERT after the
statement's name and formats; a vendor's socket with a JSON header of 200 bytes): only the flow's
first 64 bytes were tried for a stream that runs on past the first chunk, so its reads, after the first
64 kB, replayed CLEAN.
"""

from __future__ import annotations

import gzip
import random
import struct

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from sandbox.simulate import wire
from tests.hostile.uploads import ALLOWED

NOISE = random.Random(13).randbytes(150_000)


def _postgres(path, messages: bytes) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 5432), t0=1.0)
        c.send(wire.pg_startup("instrument", "lims"))
        c.send(wire.pg_message(b"R", bytes(4)) + wire.pg_message(b"Z", b"I"), from_client=False)
        c.send(messages)
        c.send(wire.pg_message(b"C", b"COPY 1\0") + wire.pg_message(b"Z", b"I"), from_client=False)
        c.close()


def _copy_text(data: bytes) -> bytes:
    return wire.pg_copy("results", b"run42\t\\\\x" + data.hex().encode() + b"\n")


def _copy_binary(data: bytes) -> bytes:
    row = struct.pack(">hi", 2, 5) + b"run42" + struct.pack(">i", len(data)) + data
    return wire.pg_copy("results", b"PGCOPY\n\xff\r\n\0" + bytes(8) + row + b"\xff\xff")


def _bind(data: bytes) -> bytes:
    params = struct.pack(">hhh", 2, 0, 1) + struct.pack(">h", 2) + struct.pack(">i", 5) + b"run42" \
        + struct.pack(">i", len(data)) + data + struct.pack(">h", 0)
    return (wire.pg_message(b"P", b"s1\0INSERT INTO results (name, data) VALUES ($1, $2)\0\0\0")
            + wire.pg_message(b"B", b"portal_with_a_long_name_for_the_upload\0s1\0" + params)
            + wire.pg_message(b"E", b"\0\0\0\0\0") + wire.pg_message(b"S", b""))


def _vendor_socket(path, data: bytes) -> None:
    header = b'{"vendor": "acme", "kind": "diagnostics", "instrument": "SEQ-01", "pad": "' + b"x" * 120 + b'"}\n'
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 7777), t0=1.0)
        c.send(header + data)
        c.close()


CASES = {
    "copy, text format (hex)": (lambda path, reads: _postgres(path, _copy_text(gzip.compress(NOISE + reads)))),
    "copy, binary format": (lambda path, reads: _postgres(path, _copy_binary(gzip.compress(NOISE + reads)))),
    "insert, a bytea parameter": (lambda path, reads: _postgres(path, _bind(gzip.compress(NOISE + reads)))),
    "a vendor socket, a header of 200 bytes": (lambda path, reads: _vendor_socket(path, gzip.compress(NOISE + reads))),
}


@pytest.mark.parametrize("name", CASES)
def test_reads_written_into_a_database_or_behind_a_header_are_a_leak(reads, name):
    tmp, run, fastq = reads
    capture = tmp / f"{name.replace(' ', '-').replace(',', '').replace('(', '').replace(')', '')}.pcap"
    CASES[name](capture, fastq)
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", name
    assert any(f["severity"] in ("high", "critical") for f in report["findings"]), report["findings"]


def test_a_copy_of_random_bytes_is_no_finding(reads):
    tmp, run, _ = reads
    for make in (_copy_text, _copy_binary, _bind):
        capture = tmp / "noise-copy.pcap"
        _postgres(capture, make(gzip.compress(NOISE)))
        report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
        assert report["verdict"] == "clean", (make.__name__, report["findings"])
