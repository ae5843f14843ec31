"""AMQP 1.0: a real Qpid Proton client sending to a RabbitMQ node of the test's own (its AMQP 1.0 plugin)
on lo, recorded with dumpcap; a delivery's transfers joined, messages by link, SASL, TLS, holes."""

from __future__ import annotations

import gzip
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.model import Payload
from sandbox.protocols.amqp10 import Amqp10Parser
from sandbox.simulate import wire
from tests.brokers import rabbitmq
from tests.loopback import record_lo
from tests.pgserver import free_port
from tests.protocols.test_integration import dissect
from tests.protocols.test_stream_parsers_conformance import run

rng = random.Random(8)
READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(rng.choice(b"ACGT") for _ in range(100)), b"F" * 100)
                 for i in range(600))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    with rabbitmq(tmp_path_factory.mktemp("rabbitmq10"), "127.0.0.1", port, plugins=("rabbitmq_amqp1_0",)):
        yield port


def _messages(items: list, address: str) -> list[Payload]:
    return [p for p in items if isinstance(p, Payload) and p.direction == "out"
            and p.chain == ("tcp", f"amqp1 transfer {address}")]


def test_messages_sent_with_proton_are_read_by_link(tmp_path: Path, broker: int) -> None:
    """One message larger than the broker's frame (its transfers joined), then the same gzip 4 kB a
    message, followed across them; SASL's PLAIN credentials scanned with the other bytes."""
    from proton import Message
    from proton.utils import BlockingConnection

    data = gzip.compress(os.urandom(150_000) + READS)
    with record_lo(tmp_path / "amqp10.pcapng", f"tcp port {broker}") as rec:
        conn = BlockingConnection(f"amqp://guest:guest@127.0.0.1:{broker}", allowed_mechs="PLAIN")
        sender = conn.create_sender("/queue/reads")
        sender.send(Message(body=data, inferred=True))
        for at in range(0, len(data), 4096):
            sender.send(Message(body=data[at: at + 4096], inferred=True))
        conn.close()
    items, d = dissect(rec.path)
    got = _messages(items, "/queue/reads")
    assert got[0].data == data and len(got) == 1 + len(range(0, len(data), 4096))
    assert all(p.data == piece for p, piece in zip(got[1:], (data[at: at + 4096] for at in range(0, len(data), 4096)),
                                                   strict=True))
    followed = b"".join(p.data for p in items if isinstance(p, Payload)
                        and p.chain == ("tcp", "amqp1 transfer /queue/reads", "gzip stream"))
    assert READS[-5000:] in followed
    other = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp", "amqp1") and p.direction == "out")
    assert b"\0guest\0guest" in other                            # SASL PLAIN: scanned as it is
    (flow,) = [f for f in d.flows.values() if f.app == "amqp1"]
    assert not flow.errors


def test_transfers_of_deliveries_interleaved_and_a_hole() -> None:
    """Two links' deliveries, their transfers interleaved: each message whole; a hole inside a transfer's
    payload keeps the framing."""
    a, b = wire.amqp10_data(READS[:9000]), wire.amqp10_data(READS[9000:18000])
    ta, tb = _frames(wire.amqp10_transfers(0, 0, a, 2000)), _frames(wire.amqp10_transfers(1, 0, b, 2000))
    conv = [("out", wire.AMQP10_HEADER), ("out", wire.amqp10_attach("l0", 0, "/queue/a")),
            ("out", wire.amqp10_attach("l1", 1, "/queue/b"))]
    for fa, fb in zip(ta, tb, strict=True):
        conv += [("out", fa), ("out", fb)]
    items = run(Amqp10Parser, conv)
    assert [p.data for p in _messages(items, "/queue/a")] == [READS[:9000]]
    assert [p.data for p in _messages(items, "/queue/b")] == [READS[9000:18000]]
    frames = _frames(wire.amqp10_transfers(0, 1, a, 4000))
    cut = len(frames[0]) - 2000
    conv = [("out", wire.AMQP10_HEADER), ("out", wire.amqp10_attach("l0", 0, "/queue/a")), ("out", frames[0][:cut]),
            ("gap-out", bytes(500)), ("out", frames[0][cut + 500:]), *[("out", f) for f in frames[1:]]]
    got = b"".join(p.data[p.repeated:] for p in _messages(run(Amqp10Parser, conv), "/queue/a"))
    assert len(got) == 9000 - 500 and READS[:9000].endswith(got[-3000:])


def _frames(data: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at: at + 4], "big")
        frames.append(data[at: at + size])
        at += size
    return frames


def test_sasl_then_amqp_and_tls_and_broken_frames() -> None:
    """SASL's frames, its outcome, then the AMQP header again: messages read; a TLS header: raw from there;
    a frame of a type no AMQP has: raw from there, nothing lost."""
    outcome = wire.amqp10_frame(0x44, b"\x50\x00", 1, kind=1)
    message = wire.amqp10_data(READS[:3000])
    conv = [("out", wire.AMQP10_SASL_HEADER), ("in", wire.AMQP10_SASL_HEADER),
            ("out", wire.amqp10_frame(0x41, b"\xa3\x05PLAIN\xa0\x0c\0guest\0guest", 2, kind=1)), ("in", outcome),
            ("out", wire.AMQP10_HEADER), ("out", wire.amqp10_attach("l", 0, "/queue/q")),
            ("out", wire.amqp10_transfers(0, 0, message))]
    assert [p.data for p in _messages(run(Amqp10Parser, conv), "/queue/q")] == [READS[:3000]]
    tls = b"AMQP\x02\x01\x00\x00\x16\x03\x01" + READS[:2000]
    raw = b"".join(p.data for p in run(Amqp10Parser, [("out", tls)]) if isinstance(p, Payload) and p.chain == ("tcp",))
    assert READS[:2000] in raw
    bad = b"\x00\x00\x00\x10\x02\x07\x00\x00" + READS[:3000]
    items = run(Amqp10Parser, [("out", wire.AMQP10_HEADER), ("out", bad)])
    assert b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp",)) == bad


def test_detection() -> None:
    assert Amqp10Parser.detect(wire.AMQP10_HEADER, b"", 50000, 5672)
    assert Amqp10Parser.detect(b"", wire.AMQP10_SASL_HEADER, 5672, 50000)
    assert not Amqp10Parser.detect(wire.AMQP_HEADER, b"", 50000, 5672)          # 0-9-1: the other parser's


def test_a_performative_cut_inside_a_field_turns_the_side_raw() -> None:
    """A frame whose performative's fields run past its bytes (a descriptor, then nothing): a field read
    past the frame raised IndexError out of the parser (hypothesis found one); now the side is raw from
    there, nothing lost."""
    cut = b"\x00\x00\x00\x09\x02\x00\x00\x00\x00" + READS[:2000]
    items = run(Amqp10Parser, [("out", wire.AMQP10_HEADER), ("out", cut)])
    assert b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp",)) == cut
