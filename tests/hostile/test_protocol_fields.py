"""Reads written into the values a protocol's sender draws at random replay as a leak.

A DNS query's id (two bytes a query), its question type, an EDNS cookie (8 to 32 bytes a query) of
queries for one name, and a TLS ClientHello's random, session id or key share (32 bytes a connection),
replayed clean: a name asked again said nothing new, a hello's values were read one connection at a
time.  So did HTTP/2 WINDOW_UPDATE increments and SETTINGS values (four bytes a frame), and the masking keys
of a WebSocket client's frames (four bytes a frame, empty pings).  The controls carry random bytes and
another genome's reads the same ways: no content finding.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation, ipv4, link_frame, udp_datagram
from sandbox.replay import replay
from tests.hostile.uploads import (
    ALLOWED,
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
)

RESOLVER = "10.0.0.53"
NAME = b"\x04lims\x03lab\x07example\x00"


def _pieces(data: bytes, size: int) -> list[bytes]:
    data += bytes(-len(data) % size)
    return [data[i:i + size] for i in range(0, len(data), size)]


def _query(ident: int, qtype: int = 1, cookie: bytes | None = None) -> bytes:
    extra = b""
    if cookie is not None:
        option = struct.pack("!HH", 10, len(cookie)) + cookie
        extra = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, int(cookie is not None)) + NAME + struct.pack("!HH", qtype, 1) + extra


def _hello(rng: random.Random, random32: bytes | None = None, sid: bytes = b"", share: bytes | None = None) -> bytes:
    sni = b"lims.lab.example"
    exts = struct.pack("!HH", 0, len(sni) + 5) + struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni
    entry = struct.pack("!HH", 29, 32) + (share if share is not None else rng.randbytes(32))
    exts += struct.pack("!HHH", 51, len(entry) + 2, len(entry)) + entry
    body = (b"\x03\x03" + (random32 if random32 is not None else rng.randbytes(32)) + bytes([len(sid)]) + sid
            + b"\x00\x02\x13\x01\x01\x00" + struct.pack("!H", len(exts)) + exts)
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(message)) + message


def _queries(path: Path, messages: list[bytes]) -> None:
    with PcapWriter(path) as w:
        for n, message in enumerate(messages):
            datagram = udp_datagram("10.0.0.2", RESOLVER, 33000 + n % 1000, 53, message)
            w.write(link_frame(w.linktype, ipv4("10.0.0.2", RESOLVER, 17, datagram, ident=n)), 1 + n * 0.01)


def _conversation(first: bytes, answer: bytes) -> Callable[[Path, list[bytes]], None]:
    """One plain connection to the LIMS: ``first``, the answer, then the messages."""
    def write(path: Path, messages: list[bytes]) -> None:
        with PcapWriter(path) as w:
            c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
            c.send(first)
            c.send(answer, from_client=False)
            for message in messages:
                c.send(message)
            c.close()
    return write


def _h2(ftype: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, 0]) + bytes(4) + payload


H2_START = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _h2(4, b"")
WS_START = (b"GET /live HTTP/1.1\r\nHost: lims.lab.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
WS_ACCEPT = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def _hellos(path: Path, hellos: list[bytes]) -> None:
    with PcapWriter(path) as w:
        for n, hello in enumerate(hellos):
            c = TcpConversation(w, ("10.0.0.2", 30000 + n), (ALLOWED, 443), t0=1.0 + n * 0.01)
            c.send(hello)
            c.close()


CHANNELS: dict[str, tuple[Callable[[Path, list[bytes]], None], Callable[[bytes], list[bytes]]]] = {
    "DNS query ids": (_queries, lambda d: [_query(int.from_bytes(p, "big")) for p in _pieces(d, 2)]),
    "DNS question types": (_queries, lambda d: [_query(n, qtype=int.from_bytes(p, "big"))
                                                for n, p in enumerate(_pieces(d, 2))]),
    "EDNS cookies of 8 bytes": (_queries, lambda d: [_query(n, cookie=p) for n, p in enumerate(_pieces(d, 8))]),
    "HTTP/2 window increments": (_conversation(H2_START, _h2(4, b"")), lambda d: [
        _h2(8, p) for p in _pieces(d, 4)]),
    "HTTP/2 settings of an unknown id": (_conversation(H2_START, _h2(4, b"")), lambda d: [
        _h2(4, b"\x0a\x0a" + p) for p in _pieces(d, 4)]),
    "WebSocket masking keys of empty pings": (_conversation(WS_START, WS_ACCEPT), lambda d: [
        b"\x89\x80" + p for p in _pieces(d, 4)]),
    "TLS hello randoms": (_hellos, lambda d: [_hello(random.Random(n), random32=p) for n, p in enumerate(_pieces(d, 32))]),
    "TLS hello session ids": (_hellos, lambda d: [_hello(random.Random(n), sid=p) for n, p in enumerate(_pieces(d, 32))]),
    "TLS hello key shares": (_hellos, lambda d: [_hello(random.Random(n), share=p) for n, p in enumerate(_pieces(d, 32))]),
}


def _report(tmp: Path, run: Path, name: str, data: bytes) -> dict:
    write, messages = CHANNELS[name]
    path = tmp / f"{name.replace(' ', '-').replace('/', '')}-{len(data)}-{hash(data) & 0xFFFF}.pcap"
    write(path, messages(data))
    return replay([path], [run], allow=[ALLOWED, RESOLVER], cache_dir=tmp / "cache", jobs=1).report


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "protocol-fields")


@pytest.mark.parametrize("name", CHANNELS)
def test_reads_in_values_drawn_at_random_replay_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, name, reads[:6000]), name)


@pytest.mark.parametrize("name", CHANNELS)
def test_the_same_of_other_bytes_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    for data in (unrelated_reads(name, 40)[:6000], random.Random(name).randbytes(6000)):
        report = _report(tmp, run, name, data)
        assert_no_content(report, name)
