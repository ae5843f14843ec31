"""Reads a connection at a time in the names and fields a client gives when it connects replay as a leak.

Hex of reads, 60 characters a connection: the first label of a TLS server name or of an HTTP Host
(``<piece>.t.lims.lab.example``), an MQTT client id, user name or password, the comment of an SSH banner
(``SSH-2.0-OpenSSH_9.6 <piece>``), the name of an HTTP header, cookie or query parameter, an HTTP method
of its own, the whole of a raw connection.  Each was read a connection at a time (or joined with the
part that stays the same between every piece, or under a name of its own each time): clean.  The controls send another genome's reads the same ways.
"""

from __future__ import annotations

import random
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


def _hello(piece: bytes, n: int, sni: bytes = b"", extra: bytes = b"") -> bytes:
    sni = sni or piece + b".t.lims.lab.example"
    exts = struct.pack("!HH", 0, len(sni) + 5) + struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni + extra
    body = (b"\x03\x03" + random.Random(n).randbytes(32) + b"\x00" + b"\x00\x02\x13\x01\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(message)) + message


def _mqtt(client_id: bytes = b"inst-1", user: bytes = b"", password: bytes = b"") -> bytes:
    flags = 0x02 | (0x80 if user else 0) | (0x40 if password else 0)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + b"\x00\x3c" + struct.pack("!H", len(client_id)) + client_id
    body += (struct.pack("!H", len(user)) + user if user else b"") + (struct.pack("!H", len(password)) + password
                                                                       if password else b"")
    return b"\x10" + bytes([len(body)]) + body


CHANNELS: dict[str, tuple[int, Callable[[bytes, int], bytes]]] = {
    "TLS server names": (443, _hello),
    "TLS ALPN protocols": (443, lambda p, n: _hello(p, n, b"lims.lab.example", struct.pack(
        "!HHH", 16, len(p) + 3, len(p) + 1) + bytes([len(p)]) + p)),
    "TLS extensions of an unregistered type": (443, lambda p, n: _hello(p, n, b"lims.lab.example", struct.pack(
        "!HH", 0x7777, len(p)) + p)),
    "HTTP Host names": (80, lambda p, n: b"GET / HTTP/1.1\r\nHost: " + p + b".t.lims.lab.example\r\n\r\n"),
    "MQTT client ids": (1883, lambda p, n: _mqtt(client_id=p)),
    "MQTT user names": (1883, lambda p, n: _mqtt(user=p)),
    "MQTT passwords": (1883, lambda p, n: _mqtt(user=b"lab", password=p)),
    "SSH banners": (22, lambda p, n: b"SSH-2.0-OpenSSH_9.6 " + p + b"\r\n"),
    "HTTP header names": (80, lambda p, n: _get(b"X-" + p + b": 1\r\n")),
    "HTTP cookie names": (80, lambda p, n: _get(b"Cookie: c" + p + b"=1\r\n")),
    "HTTP query keys": (80, lambda p, n: b"GET /?k" + p + b"=1 HTTP/1.1\r\nHost: lims.lab.example\r\n\r\n"),
    "HTTP methods": (80, lambda p, n: b"X" + p.upper() + b" / HTTP/1.1\r\nHost: lims.lab.example\r\n\r\n"),
    "a raw connection a piece": (7000, lambda p, n: p),
}


def _get(header: bytes) -> bytes:
    return b"GET / HTTP/1.1\r\nHost: lims.lab.example\r\n" + header + b"\r\n"


def _report(tmp, run, name: str, data: bytes, tag: str) -> dict:
    port, make = CHANNELS[name]
    hexed = data.hex().encode()
    path = tmp / f"{tag}-{name.replace(' ', '-')}.pcap"
    with PcapWriter(path) as w:
        for n, at in enumerate(range(0, len(hexed), 60)):
            c = TcpConversation(w, ("10.0.0.2", 30000 + n), (ALLOWED, port), t0=1.0 + n * 0.05)
            c.send(make(hexed[at:at + 60], n))
            c.close()
    return replay([path], [run], allow=[ALLOWED, "lims.lab.example"], cache_dir=tmp / "cache", jobs=1).report


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "names-a-connection")


@pytest.mark.parametrize("name", CHANNELS)
def test_hex_of_reads_a_connection_at_a_time_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, name, reads[:12000], "reads"), name)


@pytest.mark.parametrize("name", CHANNELS)
def test_the_same_of_another_genome_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    report = _report(tmp, run, name, unrelated_reads(name, 80)[:12000], "other")
    assert_no_content(report)
