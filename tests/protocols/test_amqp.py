"""AMQP 0-9-1: a real pika client publishing to (and consuming from) a RabbitMQ of the test's own on lo,
recorded with dumpcap; messages by exchange and routing key, channels interleaved, framing broken, holes."""

from __future__ import annotations

import gzip
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.model import Payload
from sandbox.protocols.amqp import AmqpParser
from sandbox.simulate import wire
from tests.brokers import rabbitmq
from tests.loopback import record_lo
from tests.pgserver import free_port
from tests.protocols.test_integration import dissect
from tests.protocols.test_stream_parsers_conformance import run

rng = random.Random(6)
READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(rng.choice(b"ACGT") for _ in range(100)), b"F" * 100)
                 for i in range(600))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A RabbitMQ node of the test's own on 127.0.0.1: its port."""
    port = free_port()
    with rabbitmq(tmp_path_factory.mktemp("rabbitmq"), "127.0.0.1", port):
        yield port


def _connection(port: int):
    import pika

    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))


def _messages(items: list, label: str, direction: str = "out") -> list[Payload]:
    return [p for p in items if isinstance(p, Payload) and p.direction == direction and p.chain == ("tcp", label)]


def test_one_large_message_is_read_whole_across_its_body_frames(tmp_path: Path, broker: int) -> None:
    """A gzip of reads behind 150 kB of noise published as one message: RabbitMQ's frames of 128 kB cut
    it, the parser joins it back and names its exchange and routing key."""
    data = gzip.compress(os.urandom(150_000) + READS)
    with record_lo(tmp_path / "large.pcapng", f"tcp port {broker}") as rec:
        conn = _connection(broker)
        channel = conn.channel()
        channel.queue_declare("run42")
        channel.basic_publish("", "run42", data)
        conn.close()
    items, d = dissect(rec.path)
    (message,) = _messages(items, "amqp publish /run42")
    assert message.data == data and message.meta == {"exchange": "", "routing_key": "run42"}
    (flow,) = [f for f in d.flows.values() if f.app == "amqp"]
    assert not flow.errors


def test_a_file_published_a_piece_a_message_is_followed_and_consumed(tmp_path: Path, broker: int) -> None:
    """The same gzip 4 kB a message on two channels at once (every other piece): each message on its own;
    the messages of one exchange and key followed as one stream; what a consumer gets reads as deliveries."""
    data = gzip.compress(os.urandom(150_000) + READS)
    pieces = [data[at: at + 4096] for at in range(0, len(data), 4096)]
    with record_lo(tmp_path / "pieces.pcapng", f"tcp port {broker}") as rec:
        conn = _connection(broker)
        first, second = conn.channel(), conn.channel()
        first.exchange_declare("runs", "direct")
        first.queue_declare("reads")
        first.queue_bind("reads", "runs", "run42.reads")
        for n, piece in enumerate(pieces):
            (first if n % 2 else second).basic_publish("runs", "run42.reads", piece)
        got = [first.basic_get("reads", auto_ack=True)[2] for _ in range(3)]
        conn.close()
    assert len(got) == 3 and set(got) <= set(pieces)      # the broker keeps no order across channels
    items, _ = dissect(rec.path)
    published = _messages(items, "amqp publish runs/run42.reads")
    assert [p.data for p in published] == pieces
    followed = b"".join(p.data for p in items if isinstance(p, Payload)
                        and p.chain == ("tcp", "amqp publish runs/run42.reads", "gzip stream"))
    assert READS[-5000:] in followed
    assert [p.data for p in _messages(items, "amqp get-ok runs/run42.reads", "in")] == got


def test_interleaved_channels_and_a_hole() -> None:
    """Body frames of two channels interleave: each message is its own; a hole in a body frame keeps the
    framing, the next message whole."""
    a, b = READS[:9000], READS[9000:18000]
    pa = wire.amqp_publish(1, "x", "a", a, frame_max=4096)
    pb = wire.amqp_publish(2, "x", "b", b, frame_max=4096)
    frames_a, frames_b = _split_frames(pa), _split_frames(pb)
    conv = [("out", wire.AMQP_HEADER)]
    for fa, fb in zip(frames_a, frames_b, strict=True):
        conv += [("out", fa), ("out", fb)]
    items = run(AmqpParser, conv)
    assert [p.data for p in _messages(items, "amqp publish x/a")] == [a]
    assert [p.data for p in _messages(items, "amqp publish x/b")] == [b]
    body = READS[:3000]
    frames = _split_frames(wire.amqp_publish(1, "x", "c", body))
    last = frames[-1]
    conv = [("out", wire.AMQP_HEADER), *[("out", f) for f in frames[:-1]], ("out", last[:1007]),
            ("gap-out", bytes(500)), ("out", last[1507:]), ("out", wire.amqp_publish(1, "x", "c", b"after" * 10))]
    got = [p.data for p in _messages(run(AmqpParser, conv), "amqp publish x/c")]
    assert got == [body[:1000], body[1500:], b"after" * 10]


def _split_frames(data: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at + 3: at + 7], "big")
        frames.append(data[at: at + 8 + size])
        at += 8 + size
    return frames


def test_broken_framing_goes_raw_and_nothing_is_lost() -> None:
    """A frame of an unknown type, a frame without its frame-end octet, a body frame longer than its
    message, a method frame too large to hold: the side goes raw from there, every byte still scanned."""
    publish = wire.amqp_publish(1, "x", "k", b"ok" * 20)
    for bad in (wire.amqp_frame(5, 0, b"zz"), wire.amqp_frame(1, 0, b"\0\x3c\0\x28")[:-1] + b"\x00",
                publish[:-41] + wire.amqp_frame(3, 1, b"ok" * 30), b"\x01\x00\x00\x7f\xff\xff\xff"):
        tail = bad + READS[:3000]
        items = run(AmqpParser, [("out", wire.AMQP_HEADER), ("out", publish), ("out", tail)])
        raw = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp",))
        assert raw.endswith(READS[:3000]) and tail.endswith(raw[:len(raw) - 3000] + READS[:3000]), bad


def test_content_announced_by_nothing_and_too_many_open_are_scanned_as_other_bytes() -> None:
    orphan = wire.amqp_frame(2, 3, bytes.fromhex("003c0000") + (40).to_bytes(8, "big") + b"\0\0")
    orphan += wire.amqp_frame(3, 3, READS[:40])
    items = run(AmqpParser, [("out", wire.AMQP_HEADER), ("out", orphan)])
    other = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp", "amqp"))
    assert READS[:40] in other and not [p for p in items if p.chain[-1].startswith("amqp publish")]


def test_detection() -> None:
    assert AmqpParser.detect(wire.AMQP_HEADER, b"", 50000, 5672)
    assert AmqpParser.detect(b"", wire.AMQP_HEADER, 5672, 50000)
    assert not AmqpParser.detect(b"AMQP\x00\x01\x00\x00", b"", 50000, 5672)    # AMQP 1.0: not this protocol
