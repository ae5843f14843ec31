"""MQTT: a real paho-mqtt client publishing to a Mosquitto of the test's own on lo, recorded with dumpcap;
messages by topic, MQTT 5's topic aliases, the rest of the packets scanned, framing broken and holes."""

from __future__ import annotations

import gzip
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.model import Payload
from sandbox.protocols import mqtt
from sandbox.protocols.mqtt import MqttParser
from sandbox.protocols.pieces import MESSAGE_PIECE
from sandbox.simulate import wire
from tests.brokers import mosquitto
from tests.loopback import record_lo
from tests.pgserver import free_port
from tests.protocols.test_integration import dissect
from tests.protocols.test_stream_parsers_conformance import run

rng = random.Random(5)
READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(rng.choice(b"ACGT") for _ in range(100)), b"F" * 100)
                 for i in range(600))
CONNACK = b"\x20\x02\x00\x00"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Mosquitto of the test's own on 127.0.0.1: its port."""
    port = free_port()
    with mosquitto(tmp_path_factory.mktemp("mosquitto"), "127.0.0.1", port):
        yield port


def _publish(port: int, messages: list[tuple[str, bytes]], version: int, qos: int = 1,
             alias: bool = False) -> None:
    """Connect with paho-mqtt, publish ``messages`` in order (each acknowledged), disconnect."""
    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="seq-01", protocol=version)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for n, (topic, payload) in enumerate(messages):
            properties = None
            if alias:
                properties = Properties(PacketTypes.PUBLISH)
                properties.TopicAlias = 1
                topic = topic if n == 0 else ""            # the alias stands for the topic from the second on
            client.publish(topic, payload, qos=qos, properties=properties).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _messages(items: list, topic: str) -> list[Payload]:
    return [p for p in items if isinstance(p, Payload) and p.direction == "out"
            and p.chain == ("tcp", f"mqtt PUBLISH {topic}")]


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_a_file_published_a_piece_a_message_is_followed_across_them(tmp_path: Path, broker: int,
                                                                    version: str) -> None:
    """A gzip of reads behind 150 kB of noise, 4 kB a message: each message whole and on its topic, the
    gzip read past its first message; with MQTT 5 the topic given once and an alias after it."""
    import paho.mqtt.client as paho

    data = gzip.compress(os.urandom(150_000) + READS)
    pieces = [("run/42/reads", data[at: at + 4096]) for at in range(0, len(data), 4096)]
    with record_lo(tmp_path / "publish.pcapng", f"tcp port {broker}") as rec:
        _publish(broker, pieces, paho.MQTTv5 if version == "5" else paho.MQTTv311, alias=version == "5")
    items, d = dissect(rec.path)
    got = _messages(items, "run/42/reads")
    assert [p.data for p in got] == [piece for _, piece in pieces]
    assert {p.meta["qos"] for p in got} == {1} and got[0].meta["topic"] == "run/42/reads"
    followed = b"".join(p.data for p in items if isinstance(p, Payload)
                        and p.chain == ("tcp", "mqtt PUBLISH run/42/reads", "gzip stream"))
    assert READS[-5000:] in followed
    (flow,) = [f for f in d.flows.values() if f.app == "mqtt"]
    assert not flow.errors
    other = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp", "mqtt")
                     and p.direction == "out")
    assert b"seq-01" in other and b"run/42/reads" in other    # CONNECT's client id, the topic: scanned too


def test_short_messages_are_read_joined_and_large_ones_in_pieces() -> None:
    """Reads 24 bytes a message (shorter than a k-mer) are read joined; a message larger than a piece
    comes in overlapping pieces; a message cut by a hole ends its topic's stream there."""
    conv = [("out", wire.mqtt_connect("seq-01")), ("in", CONNACK)]
    conv += [("out", wire.mqtt_publish("t/short", READS[at: at + 24])) for at in range(0, 2400, 24)]
    big = random.Random(1).randbytes(MESSAGE_PIECE + 5000)
    conv.append(("out", wire.mqtt_publish("t/big", big)))
    items = run(MqttParser, conv)
    joined = [p for p in items if isinstance(p, Payload) and p.chain == ("tcp", "mqtt PUBLISH t/short", "messages joined")]
    assert READS[:2400] in b"".join(p.data[p.repeated:] for p in joined)
    pieces = _messages(items, "t/big")
    assert len(pieces) == 2 and b"".join(p.data[p.repeated:] for p in pieces) == big
    assert pieces[1].repeated == 1024 and [p.meta["piece"] for p in pieces] == [0, 1]


def test_topic_aliases_and_properties() -> None:
    """MQTT 5: an alias set with a topic stands for it after; an alias never set is named as one;
    properties before the alias (a string, a varint) are skipped over."""
    props = b"\x03" + wire.mqtt_string("application/gzip") + b"\x0b\x81\x01" + b"\x23\x00\x02"
    conv = [("out", wire.mqtt_connect("seq-01", level=5)),
            ("out", wire.mqtt_publish("lab/a", b"A" * 40, level=5, properties=props)),
            ("out", wire.mqtt_publish("", b"B" * 40, level=5, properties=b"\x23\x00\x02")),
            ("out", wire.mqtt_publish("", b"C" * 40, level=5, properties=b"\x23\x00\x09"))]
    got = [(p.chain[-1], p.data[:1]) for p in run(MqttParser, conv) if isinstance(p, Payload) and len(p.data) == 40]
    assert got == [("mqtt PUBLISH lab/a", b"A"), ("mqtt PUBLISH lab/a", b"B"), ("mqtt PUBLISH alias 9", b"C")]


def test_broken_framing_goes_raw_and_nothing_is_lost() -> None:
    """A reserved packet type, a remaining length of five bytes, a PUBLISH of QoS 3, a header longer
    than its packet: the side goes raw from there, every byte still scanned."""
    for bad in (b"\x00\x05hello", b"\x30\xff\xff\xff\xff\x7f", b"\x36\x05\x00\x01tABCD", b"\x30\x03\x00\x09ab"):
        tail = bad + READS[:3000]
        conv = [("out", wire.mqtt_connect("s")), ("out", wire.mqtt_publish("t", b"ok" * 20)), ("out", tail)]
        items = run(MqttParser, conv)
        raw = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp",))
        assert raw == tail, bad


def test_a_hole_inside_a_message_keeps_the_framing() -> None:
    body = READS[:6000]
    packet = wire.mqtt_publish("t", body)
    head = len(packet) - len(body)
    conv = [("out", wire.mqtt_connect("s")), ("out", packet[:head + 1000]), ("gap-out", bytes(500)),
            ("out", packet[head + 1500:]), ("out", wire.mqtt_publish("t", b"after"))]
    items = run(MqttParser, conv)
    got = [p.data for p in _messages(items, "t")]
    assert got == [body[:1000], body[1500:], b"after"]


def test_detection() -> None:
    assert MqttParser.detect(wire.mqtt_connect("x"), b"", 50000, 1883)
    assert MqttParser.detect(b"", wire.mqtt_connect("x", level=5), 1883, 50000)   # the instrument a broker
    old = wire.mqtt_packet(1, 0, wire.mqtt_string("MQIsdp") + b"\x03\x02\x00\x3c" + wire.mqtt_string("x"))
    assert MqttParser.detect(old, b"", 50000, 1883)
    assert not MqttParser.detect(b"\x10\x10\x00\x04HTTP\x04", b"", 50000, 1883)
    assert not MqttParser.detect(b"GET / HTTP/1.1\r\n", b"", 50000, 80)


def test_mqtt_over_websockets_from_paho_is_read_by_topic(tmp_path: Path) -> None:
    """paho-mqtt over WebSockets (as AWS IoT's SDKs connect on 443) to a WebSocket server that answers
    as a broker (CONNACK, then PUBACKs), recorded on lo: the messages are read by topic inside the
    WebSocket connection."""
    import asyncio
    import threading

    import paho.mqtt.client as paho
    import websockets.asyncio.server as ws_server

    port = free_port()
    ready, stop = threading.Event(), threading.Event()

    async def broker(connection) -> None:
        stream = b""
        async for message in connection:
            stream += message
            while len(stream) >= 2:                    # whole packets only (they may span messages)
                length, used = mqtt.varint(stream, 1) or (None, 0)
                if length is None or len(stream) < 1 + used + length:
                    break
                packet, stream = stream[:1 + used + length], stream[1 + used + length:]
                if packet[0] >> 4 == 1:
                    await connection.send(b"\x20\x02\x00\x00")
                elif packet[0] >> 4 == 3 and packet[0] & 0x06:
                    at = 1 + used + 2 + int.from_bytes(packet[1 + used: 3 + used], "big")
                    await connection.send(b"\x40\x02" + packet[at: at + 2])

    async def serve() -> None:
        async with ws_server.serve(broker, "127.0.0.1", port, subprotocols=["mqtt"], max_size=None):
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    data = gzip.compress(os.urandom(150_000) + READS)
    pieces = [data[at: at + 4096] for at in range(0, len(data), 4096)]
    try:
        with record_lo(tmp_path / "ws.pcapng", f"tcp port {port}") as rec:
            client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="seq-01", transport="websockets")
            client.connect("127.0.0.1", port)
            client.loop_start()
            for piece in pieces:
                client.publish("run/42/reads", piece, qos=1).wait_for_publish(10)
            client.disconnect()
            client.loop_stop()
    finally:
        stop.set()
        thread.join(10)
    items, d = dissect(rec.path)
    got = [p for p in items if isinstance(p, Payload) and p.chain[-1] == "mqtt PUBLISH run/42/reads"]
    assert [p.data for p in got] == pieces and got[0].chain[-2] == "websocket"
    followed = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain[-2:] == (
        "mqtt PUBLISH run/42/reads", "gzip stream"))
    assert READS[-5000:] in followed
