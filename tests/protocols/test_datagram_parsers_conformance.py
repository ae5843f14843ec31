"""One conformance suite for every registered UDP datagram parser (sourmash style).

Whatever the parser: its sample exchange, each datagram cut at every length, garbage, and samples
with bytes changed never raise, keep ``detect`` a yes-or-no answer, and end in a list from ``close``;
a parser's own tests say what it finds.  The helpers at the bottom are shared with the protocol tests
of this folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.captures import open_capture
from sandbox.model import FlowInfo, Observation, Payload
from sandbox.protocols import DATAGRAM_PARSERS, Dissector
from sandbox.protocols.context import FlowContext
from sandbox.simulate import wire

Exchange = list[tuple[str, bytes]]


def _quic_initial(dcid: bytes, body: bytes, version: int = 1) -> bytes:
    """A client Initial's header (type 0, 4-byte packet number) with ``body`` as its protected part."""
    length = len(body) + 4
    return (b"\xc3" + version.to_bytes(4, "big") + bytes([len(dcid)]) + dcid + b"\x00\x00"
            + bytes([0x40 | length >> 8, length & 0xFF]) + b"\x00\x00\x00\x01" + body)


_DTLS_HELLO = (b"\x16\xfe\xfd" + bytes(8) + b"\x00\x3a" + b"\x01\x00\x00\x2e\x00\x00\x00\x00\x00\x00\x00\x2e"
               + b"\xfe\xfd" + bytes(32) + b"\x00" + b"\x00" + b"\x00\x02\xc0\x2b" + b"\x01\x00" + b"\x00\x04"
               + b"\x00\x17\x00\x00")
SAMPLES: dict[str, Exchange] = {
    "dns": [("out", wire.dns_query(7, "a1b2c3.t.example")), ("in", wire.dns_answer(7, "a1b2c3.t.example", "192.0.2.1"))],
    "quic": [("out", _quic_initial(bytes(range(8)), bytes(1200))), ("in", b"\x40" + bytes(range(200))),
             ("out", b"\x41" + bytes(range(255)) * 4)],
    "dtls": [("out", _DTLS_HELLO), ("in", b"\x16\xfe\xff" + bytes(8) + b"\x00\x03\x03\x00\x00"),
             ("out", b"\x17\xfe\xfd\x00\x01" + bytes(6) + b"\x00\x40" + bytes(range(64))),
             ("in", b"\x2f" + bytes(range(100)))],
    "wireguard": [("out", b"\x01\x00\x00\x00" + bytes(range(144))), ("in", b"\x02\x00\x00\x00" + bytes(range(88))),
                  ("out", b"\x04\x00\x00\x00" + bytes(12) + bytes(range(256))), ("out", b"\x04\x00\x00\x00" + bytes(28))],
    "tftp": [("out", b"\x00\x02run42.fastq.gz\x00octet\x00blksize\x001024\x00"), ("in", b"\x00\x06blksize\x001024\x00"),
             ("out", b"\x00\x03\x00\x01" + bytes(range(256)) * 4), ("in", b"\x00\x04\x00\x01"),
             ("out", b"\x00\x03\x00\x02" + bytes(100)), ("in", b"\x00\x05\x00\x03disk full\x00")],
}
PARSERS = [pytest.param(cls, id=cls.name) for cls in DATAGRAM_PARSERS]


def make_ctx(dport: int = 443) -> FlowContext:
    info = FlowInfo(flow=f"udp 10.0.0.2:50443 > 10.0.0.1:{dport}", channel="net", transport="udp",
                    src="10.0.0.2", sport=50443, dst="10.0.0.1", dport=dport)
    return FlowContext(flow=info.flow, info=info, shared={}, chain=("udp",))


def run(cls: type, exchange: Exchange) -> list[Payload | Observation]:
    parser = cls(make_ctx())
    out: list[Payload | Observation] = []
    for i, (direction, data) in enumerate(exchange):
        assert cls.detect(data, 50443, 443) in (True, False)
        out += parser.feed(direction, data, float(i))
    if hasattr(parser, "idle"):
        out += parser.idle(float(len(exchange)))
    out += parser.close(float(len(exchange) + 1))
    assert all(isinstance(item, Payload | Observation) for item in out)
    return out


def test_every_parser_has_a_sample():
    assert {cls.name for cls in DATAGRAM_PARSERS} <= set(SAMPLES)


@pytest.mark.parametrize("cls", PARSERS)
def test_its_sample_is_detected_and_parses(cls: type) -> None:
    sample = SAMPLES[cls.name]
    assert cls.detect(sample[0][1], 50443, 443)
    run(cls, sample)


@pytest.mark.parametrize("cls", PARSERS)
def test_every_datagram_cut_short_never_raises(cls: type) -> None:
    for k, (direction, data) in enumerate(SAMPLES[cls.name]):
        for n in range(len(data)):
            run(cls, [*SAMPLES[cls.name][:k], (direction, data[:n])])


@pytest.mark.parametrize("cls", PARSERS)
@settings(max_examples=80, deadline=None)
@given(datagrams=st.lists(st.tuples(st.sampled_from(["out", "in"]), st.binary(max_size=1500)), max_size=8))
def test_garbage_never_raises(cls: type, datagrams: Exchange) -> None:
    run(cls, datagrams)


@pytest.mark.parametrize("cls", PARSERS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_mutated_samples_never_raise(cls: type, data: st.DataObject) -> None:
    exchange = [(d, bytearray(b)) for d, b in SAMPLES[cls.name]]
    for _ in range(data.draw(st.integers(1, 6))):
        k = data.draw(st.integers(0, len(exchange) - 1))
        i = data.draw(st.integers(0, len(exchange[k][1]) - 1))
        exchange[k][1][i] = data.draw(st.integers(0, 255))
    run(cls, [(d, bytes(b)) for d, b in exchange])


# --------------------------------------------------------------------------- shared helpers


def dissected(pcap: Path) -> list[Payload | Observation]:
    """Everything the Dissector makes of a capture (the registry's parsers, as a replay has them)."""
    d = Dissector()
    items: list[Payload | Observation] = []
    for seg in open_capture(pcap):
        items += d.feed(seg)
    return items + d.close()


def encrypted(items: list[Payload | Observation]) -> list[Observation]:
    """The flows' closing ``encrypted`` Observations."""
    return [o for o in items if isinstance(o, Observation) and o.kind == "encrypted"]
