"""Reads in control messages and requests, a piece each, replay as a leak.

A gzip of reads 125 bytes a WebSocket ping, or a close frame's reason; its base64 100 characters an MQTT
SUBSCRIBE's topic filter, or 200 characters a TFTP write request's option (each request a flow of its
own).  Each piece was read alone (or cut from the next by the packets' headers): clean.  The controls
send another genome's reads the same ways: no content finding.
"""

from __future__ import annotations

import base64
import gzip
import struct
from collections.abc import Callable

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation, ipv4, link_frame, udp_datagram
from sandbox.replay import replay
from tests.hostile.test_protocol_fields import WS_ACCEPT, WS_START
from tests.hostile.uploads import (
    ALLOWED,
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
)

MQTT_CONNECT = b"\x10\x12\x00\x04MQTT\x04\x02\x00\x3c\x00\x06inst-1"


def _ws(opcode: int, payload: bytes, key: bytes = b"\x11\x22\x33\x44") -> bytes:
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _subscribe(n: int, topic: bytes) -> bytes:
    body = struct.pack("!HH", n, len(topic)) + topic + b"\x00"
    return b"\x82" + bytes([len(body)]) + body


def _tcp(path, port: int, first: bytes, answer: bytes, messages: list[bytes]) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, port), t0=1.0)
        c.send(first)
        c.send(answer, from_client=False)
        for message in messages:
            c.send(message)
        c.close()


def _tftp(path, requests: list[bytes]) -> None:
    with PcapWriter(path) as w:
        for n, rrq in enumerate(requests):
            datagram = udp_datagram("10.0.0.2", ALLOWED, 40000 + n, 69, rrq)
            w.write(link_frame(w.linktype, ipv4("10.0.0.2", ALLOWED, 17, datagram, ident=n)), 1 + n * 0.01)


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


CHANNELS: dict[str, Callable[..., None]] = {
    "WebSocket pings": lambda path, gz: _tcp(path, 80, WS_START, WS_ACCEPT, [_ws(9, p) for p in _pieces(gz, 125)]),
    "WebSocket close reasons": lambda path, gz: _tcp(path, 80, WS_START, WS_ACCEPT,
                                                     [_ws(8, b"\x03\xe8" + p) for p in _pieces(gz, 123)]),
    "MQTT topic filters": lambda path, gz: _tcp(path, 1883, MQTT_CONNECT, b"\x20\x02\x00\x00", [
        _subscribe(n + 1, p) for n, p in enumerate(_pieces(base64.b64encode(gz), 100))]),
    "TFTP request options": lambda path, gz: _tftp(path, [
        b"\x00\x02run.log\x00octet\x00x-data\x00" + p + b"\x00" for p in _pieces(base64.b64encode(gz), 200)]),
}


def _report(tmp, run, name: str, data: bytes, tag: str) -> dict:
    path = tmp / f"{tag}-{name.replace(' ', '-')}.pcap"
    CHANNELS[name](path, gzip.compress(data))
    return replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "control-messages")


@pytest.mark.parametrize("name", CHANNELS)
def test_a_gzip_of_reads_a_control_message_at_a_time_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(_report(tmp, run, name, reads, "reads"), name)


@pytest.mark.parametrize("name", CHANNELS)
def test_the_same_of_another_genome_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    report = _report(tmp, run, name, unrelated_reads(name), "other")
    assert_no_content(report)
