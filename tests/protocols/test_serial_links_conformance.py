"""One suite for every registered network link on a serial line (``sandbox.protocols.serial.LINKS``):
sessions written by another implementation of the link (``tests/protocols/serial/pppwire.py``, sliplib)
hand out exactly the IP packets sent, whatever way the bytes are split, cut short, hit by line noise
or surrounded by garbage; nothing the link does not verify is dropped; through the line parser the
packets become flows whose chains start ``serial > <link>``.

A link registered without sessions here fails ``test_every_registered_link_has_sessions``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from sandbox.captures.writer import TcpConversation, udp
from sandbox.model import Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols.serial import LINKS
from sandbox.protocols.serial.transfer import Packet, Released, Unclaimed
from sandbox.simulate.ppp import PacketList, ppp_session
from tests.protocols.serial.slipwire import slip_session
from tests.protocols.serial.steps import cut_after, fed_in_steps, from_its_start

INSTRUMENT, HOST = "10.64.64.2", "192.0.2.9"
INSTRUMENT_RAW = bytes([10, 64, 64, 2])
RNG = random.Random(5)
BODY = bytes(RNG.randrange(256) for _ in range(6000)) + b"\x7e\x7d\xc0\xdb" * 64    # every byte, delimiters
MARK = b"sbx-link-conformance " * 30


def traffic(body: bytes = BODY) -> list[bytes]:
    """A DNS query, then an HTTP upload of ``body`` and its answer: the IPv4 packets, in order."""
    sink = PacketList()
    udp(sink, (INSTRUMENT, 53000), ("192.0.2.53", 53), b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        b"\x04lims\x03lab\x07example\x00\x00\x01\x00\x01", 1.0)
    c = TcpConversation(sink, (INSTRUMENT, 40000), (HOST, 80), t0=1.0, mss=700)
    c.send(b"POST /up HTTP/1.1\r\nHost: lims.lab.example\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    c.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False)
    c.close()
    return sink.packets


Session = Callable[[list[bytes]], list[tuple[str, bytes]]]
SESSIONS: dict[str, list[tuple[str, Session]]] = {
    "ppp": [("ppp", lambda p: ppp_session(p, INSTRUMENT_RAW)),
            ("ppp vj", lambda p: ppp_session(p, INSTRUMENT_RAW, vj=True)),
            ("ppp deflate", lambda p: ppp_session(p, INSTRUMENT_RAW, deflate=True)),
            ("ppp deflate vj fcs-32", lambda p: ppp_session(p, INSTRUMENT_RAW, vj=True, deflate=True, fcs32=True)),
            ("ppp compressed fields accm 0", lambda p: ppp_session(p, INSTRUMENT_RAW, acfc=True, pfc=True, accm=0))],
    "slip": [("slip", lambda p: slip_session(p, INSTRUMENT_RAW)),
             ("cslip", lambda p: slip_session(p, INSTRUMENT_RAW, vj=True))],
}
CASES = [(cls, label, make) for cls in LINKS for label, make in SESSIONS.get(cls.name, [])]
IDS = [label for _, label, _ in CASES]


def streams(chunks: list[tuple[str, bytes]]) -> dict[str, bytes]:
    return {d: b"".join(data for dd, data in chunks if dd == d) for d in ("out", "in")}


def packets(events: list) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {"out": [], "in": []}
    for ev in events:
        if isinstance(ev, Packet):
            out[ev.direction].append(ev.data)
    return out


def sent(original: list[bytes]) -> dict[str, list[bytes]]:
    return {"out": [p for p in original if p[12:16] == INSTRUMENT_RAW],
            "in": [p for p in original if p[12:16] != INSTRUMENT_RAW]}


def test_every_registered_link_has_sessions():
    assert {cls.name for cls in LINKS} <= set(SESSIONS)


@pytest.mark.parametrize(("cls", "label", "make"), CASES, ids=IDS)
def test_sessions_carry_exactly_the_packets_sent(cls, label, make):
    original = traffic()
    events = from_its_start(cls, make(original))
    assert packets(events) == sent(original)
    assert not [ev for ev in events if isinstance(ev, Unclaimed) and ev.direction == "out" and ev.data.strip(b"\x7e\xc0")
                and not ev.data.startswith((b"\x01", b"\x02", b"\x05", b"\x06"))]    # LCP/IPCP/CCP bodies only


@pytest.mark.parametrize(("cls", "label", "make"), CASES, ids=IDS)
def test_split_at_every_byte(cls, label, make):
    original = traffic(MARK[:120])
    chunks = make(original)
    want = sent(original)
    out_stream = streams(chunks)["out"]
    replies = [c for c in chunks if c[0] == "in"]
    for cut in range(0, len(out_stream) + 1, 3):
        split = [c for c in [("out", out_stream[:cut]), ("out", out_stream[cut:]), *replies] if c[1]]
        assert packets(from_its_start(cls, split))["out"] == want["out"], cut
        assert packets(from_its_start(cls, split, pauses=True))["out"] == want["out"], cut     # a pause cuts no frame
    one_by_one = [("out", out_stream[i:i + 1]) for i in range(len(out_stream))] + replies
    assert packets(from_its_start(cls, one_by_one)) == want


@pytest.mark.parametrize("cls", LINKS, ids=lambda c: c.name)
def test_the_start_is_held_back_until_it_can_be_judged(cls):
    _, make = SESSIONS[cls.name][0]
    stream = b"text before " + streams(make(traffic()))["out"]
    start, _ = cls.find(stream)
    for cut in range(start, min(len(stream), start + 1500)):
        found, hold = cls.find(stream[:cut])
        assert found in (-1, start) and (found == start or hold <= start), cut
        assert cls.find(stream[:cut + 40], cut) == cls.find(stream[:cut + 40]) or found == start, cut


@pytest.mark.parametrize(("cls", "label", "make"), CASES, ids=IDS)
def test_cut_short_anywhere_hands_out_only_packets_sent(cls, label, make):
    original = traffic()
    chunks = make(original)
    out_stream = streams(chunks)["out"]
    for cut in range(0, len(out_stream), max(1, len(out_stream) // 50)):
        kept = cut_after(chunks, cut)
        if cls.find(streams(kept)["out"])[0] < 0:
            continue
        got = packets(from_its_start(cls, kept))
        assert set(got["out"]) <= set(sent(original)["out"]), cut


@pytest.mark.parametrize(("cls", "label", "make"), CASES, ids=IDS)
def test_line_noise_never_yields_a_packet_not_sent(cls, label, make):
    original = traffic()
    rng = random.Random(label)
    noisy = []
    for direction, data in make(original):
        data = bytearray(data)
        for _ in range(len(data) // 300):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        noisy.append((direction, bytes(data)))
    if cls.find(streams(noisy)["out"])[0] < 0:
        return
    got = packets(from_its_start(cls, noisy))
    assert set(got["out"]) <= set(sent(original)["out"])
    assert set(got["in"]) <= set(sent(original)["in"])


@pytest.mark.parametrize("cls", LINKS, ids=lambda c: c.name)
@pytest.mark.parametrize("seed", range(4))
def test_garbage_is_handed_back_whole(cls, seed):
    rng = random.Random(seed)
    garbage = b"".join(bytes([rng.choice(cls.framing)]) if rng.random() < 0.05 else bytes([rng.randrange(256)])
                       for _ in range(40000))
    assert cls.find(garbage)[0] == -1
    for direction in ("out", "in"):
        events, fed = fed_in_steps(cls, direction, garbage)
        assert not [ev for ev in events if isinstance(ev, Packet)]
        back = sum(len(ev.data) for ev in events if isinstance(ev, Unclaimed | Released))
        assert back >= 0.98 * (fed - garbage[:fed].count(cls.framing)), direction
        assert fed < len(garbage)     # past the limit with nothing verified: the line is no longer a link


@pytest.mark.parametrize(("cls", "label", "make"), CASES, ids=IDS)
def test_the_line_parser_hands_the_packets_to_the_flow_table(cls, label, make):
    dis = Dissector()
    items, t = [], 1000.0
    before, after = b"ATDT5551234\r", b"\r\nNO CARRIER\r\nPT9936-T1 done\r\n"
    for direction, data in [("out", before), *make(traffic(MARK)), ("out", after)]:
        t += 0.001
        items += dis.feed(Segment(t, "serial", "serial", "/dev/ttyS1", 0, "/dev/ttyUSB0", 0, data,
                                  meta={"direction": direction}))
    items += dis.close()
    payloads = [p for p in items if isinstance(p, Payload)]
    upload = b"".join(p.data for p in payloads if p.chain[:3] == ("serial", cls.name, "tcp") and p.direction == "out")
    assert MARK in upload
    assert {p.destination for p in payloads if p.chain[1:3] == (cls.name, "tcp")} == {"lims.lab.example"}
    text = b"".join(p.data for p in payloads if p.chain == ("serial",) and p.direction == "out")
    assert before in text and b"PT9936-T1 done" in text
