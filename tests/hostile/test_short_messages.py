"""Reads sent a few bytes a message, and files published to a message broker.

A protocol's messages were each read on their own: reads cut into WebSocket messages or HTTP request
bodies of 24 bytes (shorter than a k-mer), base64 of a gzip of them in messages of 48 (shorter than a
run the stream follower starts on), and the same in gRPC messages or HTTP/2 request bodies, replayed
CLEAN.  Now a direction's short messages are also read joined.  So did a beacon's GETs carrying the
pieces in a header, a cookie or a query parameter: now each value is a message of its name's stream.
And so did a beacon that opens a connection a piece: short messages and values are now joined with
those of the other connections to the same site (each piece to another host of a domain too), and
with those to every site (each piece to the next of three unrelated domains).  So did pieces in a path segment, an MQTT
topic's level or an AMQP routing key: a position's (a name's) changing values are read joined too.

MQTT and AMQP 0-9-1 had no parser: their flows were raw bytes, each PUBLISH's header, each publish's
method and content header cut into the messages, and AMQP's body frames (128 kB) cut into one large
message.  A gzip of reads behind 150 kB of noise published 4 kB a message (a file a message at a time,
as an IoT SDK sends one), or to RabbitMQ as one message, and reads 24 bytes an MQTT message, replayed
CLEAN, and so did the same sent over AMQP 1.0 (Azure's brokers: transfers of 32 kB, a data section in
each message).  Now messages are read by topic, by exchange and routing key, or by link.
"""

from __future__ import annotations

import base64
import gzip
import random

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from sandbox.simulate import wire
from tests.hostile.uploads import ALLOWED

NOISE = random.Random(12).randbytes(150_000)


def _websocket(path, pieces: list[bytes], text: bool = True, protocol: str = "") -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        request, answer = wire.websocket_upgrade("/telemetry", "lims.lab.example", bytes(range(16)), protocol)
        c.send(request)
        c.send(answer, from_client=False)
        for piece in pieces:
            c.send(wire.websocket_frame(piece, text, b"\x01\x02\x03\x04"))
        c.close()


def _http_beacons(path, pieces: list[bytes]) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        for piece in pieces:
            c.send(b"POST /beacon HTTP/1.1\r\nHost: lims.lab.example\r\nContent-Length: %d\r\n\r\n%s" % (len(piece), piece))
            c.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False)
        c.close()


def _grpc_messages(path, pieces: list[bytes]) -> None:
    client = wire.grpc_client_stream("lims.lab.example", "/telemetry.Sink/Put", [wire.protobuf_field(1, p) for p in pieces])
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 50051), t0=1.0)
        c.send(client)
        c.send(wire.h2_frame(wire.H2_SETTINGS, 0, 0), from_client=False)
        c.close()


def _mqtt(path, pieces: list[bytes]) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 1883), t0=1.0)
        c.send(wire.mqtt_connect("seq-01", user="instrument", password=b"secret"))
        c.send(b"\x20\x02\x00\x00", from_client=False)
        for n, piece in enumerate(pieces, start=1):
            c.send(wire.mqtt_publish("lab/seq-01/telemetry", piece, qos=1, packet_id=n & 0xFFFF or 1))
            c.send(b"\x40\x02" + (n & 0xFFFF).to_bytes(2, "big"), from_client=False)
        c.close()


def _mqtt_over_websocket(path, pieces: list[bytes], protocol: str = "mqtt", span: int = 0) -> None:
    """MQTT in WebSocket messages (AWS IoT and Azure IoT Hub on 443): a PUBLISH a message, or with
    ``span`` the MQTT stream cut into messages of that size, packets spanning them."""
    stream = [wire.mqtt_connect("seq-01")] + [wire.mqtt_publish("lab/seq-01/telemetry", p) for p in pieces]
    messages = stream if not span else [b"".join(stream)[at: at + span] for at in range(0, sum(map(len, stream)), span)]
    _websocket(path, messages, text=False, protocol=protocol)


def _amqp(path, pieces: list[bytes]) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 5672), t0=1.0)
        c.send(wire.AMQP_HEADER)
        c.send(wire.amqp_frame(1, 0, b"\x00\x0a\x00\x0a\x00\x09" + bytes(12)), from_client=False)
        for piece in pieces:
            c.send(wire.amqp_publish(1, "runs", "run42.telemetry", piece))
        c.close()


def _beacon(where: str):
    """A GET a piece, the piece in a header, a cookie or a query parameter (base64url where not text)."""
    def write(path, pieces: list[bytes]) -> None:
        with PcapWriter(path) as w:
            c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
            for n, piece in enumerate(pieces):
                field = {"header": b"X-Trace: %s\r\n" % piece, "cookie": b"Cookie: sid=a81f; t=%s\r\n" % piece}
                target = {"query": b"/pixel.gif?n=%d&t=%s" % (n, piece), "path": b"/t/%s/p.gif" % piece}.get(
                    where, b"/pixel.gif")
                c.send(b"GET %s HTTP/1.1\r\nHost: lims.lab.example\r\n%s\r\n" % (target, field.get(where, b"")))
                c.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False)
            c.close()
    return write


DOMAINS = (b"metrics.vendor-a.example", b"cdn.other-b.example", b"t.third-c.example")


def _beacon_a_connection(where: str, fan_out: str = ""):
    """A connection a piece (Connection: close), the piece in a header or a POST's body; ``fan_out``:
    each to another host of the domain ("hosts"), or to the next of three unrelated domains ("domains")."""
    def write(path, pieces: list[bytes]) -> None:
        with PcapWriter(path) as w:
            for n, piece in enumerate(pieces):
                c = TcpConversation(w, ("10.0.0.2", 30000 + n), (ALLOWED, 80), t0=1.0 + n * 0.5)
                host = {"hosts": b"h%d.lims.lab.example" % n, "domains": DOMAINS[n % 3]}.get(fan_out,
                                                                                         b"lims.lab.example")
                if where == "header":
                    c.send(b"GET /pixel.gif HTTP/1.1\r\nHost: %s\r\nX-Trace: %s\r\n"
                           b"Connection: close\r\n\r\n" % (host, piece))
                else:
                    c.send(b"POST /beacon HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n"
                           b"Connection: close\r\n\r\n%s" % (host, len(piece), piece))
                c.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False)
                c.close()
    return write


def _h2_beacon(path, pieces: list[bytes]) -> None:
    """HTTP/2: a GET a piece on one connection, the piece in a header of its own."""
    from hpack import Encoder

    encoder = Encoder()
    client = wire.H2_PREFACE + wire.h2_frame(wire.H2_SETTINGS, 0, 0)
    for n, piece in enumerate(pieces):
        head = encoder.encode([(":method", "GET"), (":scheme", "https"), (":path", "/pixel.gif"),
                               (":authority", "lims.lab.example"), ("x-trace", piece.decode())])
        client += wire.h2_frame(wire.H2_HEADERS, wire.H2_END_HEADERS | wire.H2_END_STREAM, 2 * n + 1, head)
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        c.send(client)
        c.send(wire.h2_frame(wire.H2_SETTINGS, 0, 0), from_client=False)
        c.close()


def _b64url(reads: bytes) -> bytes:
    return base64.urlsafe_b64encode(gzip.compress(reads)).rstrip(b"=")


def _amqp10(path, pieces: list[bytes]) -> None:
    """AMQP 1.0 (Azure Event Hubs, Service Bus): a message a piece on a link, each in transfers of 32 kB."""
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 5672), t0=1.0)
        c.send(wire.AMQP10_HEADER)
        c.send(wire.AMQP10_HEADER, from_client=False)
        c.send(wire.amqp10_attach("sender", 0, "telemetry-hub/partitions/0"))
        for n, piece in enumerate(pieces):
            c.send(wire.amqp10_transfers(0, n, wire.amqp10_data(piece)))
        c.close()


def _names(path, pieces: list[bytes], protocol: str = "mqtt") -> None:
    """A message a piece, the piece in the name it goes to: an MQTT topic's level, an AMQP routing key."""
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 1883 if protocol == "mqtt" else 5672), t0=1.0)
        c.send(wire.mqtt_connect("seq-01") if protocol == "mqtt" else wire.AMQP_HEADER)
        for piece in pieces:
            c.send(wire.mqtt_publish(f"lab/{piece.decode()}/status", b"ok") if protocol == "mqtt"
                   else wire.amqp_publish(1, "runs", piece.decode(), b"ok"))
        c.close()


def _cut(size: int):
    return lambda data: [data[at: at + size] for at in range(0, len(data), size)]


CASES = {
    "websocket, reads 24 bytes a message": (_websocket, lambda reads: reads, _cut(24)),
    "websocket, base64 of a gzip 48 bytes a message": (_websocket, lambda reads: base64.b64encode(gzip.compress(reads)),
                                                       _cut(48)),
    "http bodies, reads 24 bytes each": (_http_beacons, lambda reads: reads[:12000], _cut(24)),
    "http bodies, base64 of a gzip 48 bytes each": (_http_beacons, lambda reads: base64.b64encode(gzip.compress(reads)),
                                                    _cut(48)),
    "grpc messages, reads 24 bytes each": (_grpc_messages, lambda reads: reads, _cut(24)),
    "mqtt, a gzip behind noise 4 kB a message": (_mqtt, lambda reads: gzip.compress(NOISE + reads), _cut(4096)),
    "mqtt, reads 24 bytes a message": (_mqtt, lambda reads: reads, _cut(24)),
    "mqtt over websocket, a gzip behind noise 4 kB a message": (_mqtt_over_websocket,
                                                                lambda reads: gzip.compress(NOISE + reads), _cut(4096)),
    "mqtt over websocket, packets spanning messages, no subprotocol named": (
        lambda path, pieces: _mqtt_over_websocket(path, pieces, protocol="", span=1000),
        lambda reads: gzip.compress(NOISE + reads), _cut(4096)),
    "a header a request, reads 24 bytes each": (_beacon("header"), lambda reads: reads[:12000], _cut(24)),
    "a header a request, base64url of a gzip 48 each": (_beacon("header"), _b64url, _cut(48)),
    "a cookie a request, reads 24 bytes each": (_beacon("cookie"), lambda reads: reads[:12000], _cut(24)),
    "a cookie a request, base64url of a gzip 48 each": (_beacon("cookie"), _b64url, _cut(48)),
    "a query parameter a request, reads 24 bytes each": (_beacon("query"), lambda reads: reads[:12000], _cut(24)),
    "a query parameter a request, base64url of a gzip 48 each": (_beacon("query"), _b64url, _cut(48)),
    "a path segment a request, reads 24 bytes each": (_beacon("path"), lambda reads: reads[:12000].replace(b"/", b"_"),
                                                      _cut(24)),
    "a topic level a message, reads 24 bytes each": (_names, lambda reads: reads[:12000].replace(b"/", b"_").replace(
        b"+", b"_").replace(b"#", b"_"), _cut(24)),
    "a routing key a message, reads 24 bytes each": (lambda path, pieces: _names(path, pieces, "amqp"),
                                                     lambda reads: reads[:12000], _cut(24)),
    "an HTTP-2 header a request, base64url of a gzip 48 each": (_h2_beacon, _b64url, _cut(48)),
    "a header a connection, reads 24 bytes each": (_beacon_a_connection("header"), lambda reads: reads[:12000],
                                                   _cut(24)),
    "a body a connection, reads 24 bytes each": (_beacon_a_connection("body"), lambda reads: reads[:12000], _cut(24)),
    "a header a connection, each to another host of the domain": (_beacon_a_connection("header", fan_out="hosts"),
                                                                   lambda reads: reads[:12000], _cut(24)),
    "a header a connection, each to the next of three domains, base64url of a gzip 48 each": (
        _beacon_a_connection("header", fan_out="domains"), _b64url, _cut(48)),
    "amqp 1.0, a gzip behind noise as one message": (_amqp10, lambda reads: gzip.compress(NOISE + reads),
                                                     lambda d: [d]),
    "amqp 1.0, a gzip behind noise 4 kB a message": (_amqp10, lambda reads: gzip.compress(NOISE + reads),
                                                     _cut(4096)),
    "amqp, a gzip behind noise as one message": (_amqp, lambda reads: gzip.compress(NOISE + reads), lambda d: [d]),
    "amqp, a gzip behind noise 4 kB a message": (_amqp, lambda reads: gzip.compress(NOISE + reads), _cut(4096)),
}


@pytest.mark.parametrize("name", CASES)
def test_reads_in_short_messages_or_published_are_a_leak(reads, name):
    tmp, run, fastq = reads
    write, make, cut = CASES[name]
    capture = tmp / f"{name.replace(' ', '-').replace(',', '')}.pcap"
    write(capture, cut(make(fastq)))
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", name
    assert any(f["severity"] in ("high", "critical") for f in report["findings"]), report["findings"]


@pytest.mark.parametrize("write", [_websocket, _http_beacons, _mqtt, _amqp, _mqtt_over_websocket, _amqp10])
def test_short_messages_of_random_bytes_are_no_finding(reads, write):
    """The same messages made of random bytes, and of text that is no read, find nothing."""
    tmp, run, _ = reads
    noise = random.Random(3).randbytes(20000)
    for data in (noise, base64.b64encode(gzip.compress(noise)), b"temperature=21.5;humidity=40;" * 700):
        capture = tmp / f"noise-{write.__name__}.pcap"
        write(capture, _cut(24)(data))
        report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
        assert report["verdict"] == "clean", (write.__name__, report["findings"])


@pytest.mark.parametrize("where", ["header", "cookie", "query", "path"])
def test_beacons_of_random_values_are_no_finding(reads, where):
    """A beacon whose values are base64url of random bytes, or a counter and a timestamp: nothing found."""
    tmp, run, _ = reads
    noise = base64.urlsafe_b64encode(random.Random(4).randbytes(15000)).rstrip(b"=")
    for pieces in (_cut(48)(noise), [b"%d-%d" % (n, 1764990000 + n) for n in range(500)]):
        capture = tmp / f"noise-beacon-{where}.pcap"
        _beacon(where)(capture, pieces)
        report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
        assert report["verdict"] == "clean", (where, report["findings"])
