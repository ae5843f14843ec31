"""Reads in the commands and messages a protocol parser did not read as data replay as a leak.

Base64 of a gzip of reads, a line (76 characters) a command: in FTP commands of a verb nobody knows, in
SITE commands, in PASS lines; in SMTP commands of an unknown verb or AUTH lines; in PostgreSQL messages of
a type nobody defined or password messages.  Each line was scanned alone or dropped (a password, a verb
the parser did not know; a message's body cut from the next by its header): clean.  The controls send
another genome's reads the same ways: no content finding.
"""

from __future__ import annotations

import base64
import gzip
import struct
from collections.abc import Callable

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from tests.hostile.uploads import (
    ALLOWED,
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
)

PARAMS = b"user\0lab\0database\0lims\0\0"
STARTUP = struct.pack("!II", 8 + len(PARAMS), 196608) + PARAMS


def _pg(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def _ftp(verb: bytes) -> Callable[[list[bytes]], tuple[int, list[tuple[bool, bytes]]]]:
    return lambda lines: (21, [(False, b"220 ftp\r\n"), (True, b"USER a\r\n"), (False, b"331 ok\r\n")]
                          + [(True, verb + b" " + line + b"\r\n") for line in lines])


def _smtp(verb: bytes) -> Callable[[list[bytes]], tuple[int, list[tuple[bool, bytes]]]]:
    return lambda lines: (25, [(False, b"220 mx\r\n"), (True, b"EHLO lab\r\n"), (False, b"250 ok\r\n")]
                          + [(True, (verb + b" " if verb else b"") + line + b"\r\n") for line in lines])


CHANNELS = {
    "FTP commands of an unknown verb": _ftp(b"XDAT"),
    "FTP SITE commands": _ftp(b"SITE"),
    "FTP PASS lines": _ftp(b"PASS"),
    "SMTP commands of an unknown verb": _smtp(b"XDAT"),
    "SMTP AUTH lines": lambda lines: _smtp(b"")([b"AUTH LOGIN"] + lines),
    "PostgreSQL messages of an unknown type": lambda lines: (5432, [
        (True, STARTUP), (False, b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I")] + [(True, _pg(b"y", line)) for line in lines]),
    "PostgreSQL password messages": lambda lines: (5432, [
        (True, STARTUP), (False, b"R\0\0\0\x08\0\0\0\x03")] + [(True, _pg(b"p", line + b"\0")) for line in lines]),
}


def _report(tmp, run, name: str, data: bytes, tag: str) -> dict:
    encoded = base64.b64encode(gzip.compress(data))
    port, exchanges = CHANNELS[name]([encoded[i:i + 76] for i in range(0, len(encoded), 76)])
    path = tmp / f"{tag}-{name.replace(' ', '-')}.pcap"
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, port), t0=1.0)
        for from_client, data_ in exchanges:
            c.send(data_, from_client=from_client)
        c.close()
    return replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "command-lines")


@pytest.mark.parametrize("name", CHANNELS)
def test_base64_of_reads_a_command_at_a_time_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, name, reads, "reads"), name)


@pytest.mark.parametrize("name", CHANNELS)
def test_the_same_of_another_genome_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    report = _report(tmp, run, name, unrelated_reads(name), "other")
    assert_no_content(report)
