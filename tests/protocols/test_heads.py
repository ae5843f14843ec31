"""``HeaderFields``: the header fields of the instrument's packets read as streams, a flow's own or its
site's across connections; what a stack chose (one value, a counter) is not read."""

from __future__ import annotations

import random
import struct

import pytest

from sandbox.captures.heads import TCP_HEAD, V4_HEAD
from sandbox.model import ACK, SYN, FlowInfo, Payload, Segment
from sandbox.protocols import heads
from sandbox.protocols.heads import (
    ACROSS,
    OWN_STREAM_RECORDS,
    QUIET_S,
    SITE_GAP,
    STEPS,
    HeaderFields,
    counter_steps,
)

SRC, DST = "10.0.0.2", "192.0.2.9"


def _info(port: int = 40000, transport: str = "tcp", dst: str = DST) -> FlowInfo:
    return FlowInfo(flow=f"{transport} {SRC}:{port} > {dst}:443", channel="net", transport=transport, src=SRC,
                    sport=port, dst=dst, dport=443, destination=dst)


def _tcp(t: float, ident: int = 0, ttl: int = 64, window: int = 502, flags: int = ACK, port: int = 40000,
         seq: int = 1) -> Segment:
    return Segment(t, "net", "tcp", SRC, port, DST, 443, b"", seq, 0, flags,
                   head=TCP_HEAD.pack(ident, 0, ttl, window, 0, bytes(8)))


def _by_chain(items: list) -> dict[tuple, bytes]:
    out: dict[tuple, bytes] = {}
    for item in items:
        assert isinstance(item, Payload) and item.direction == "out"
        out[item.chain] = out.get(item.chain, b"") + item.data[item.repeated:]
    return out


def _feed(fields: HeaderFields, segments: list[Segment], info: FlowInfo) -> list:
    items = []
    for seg in segments:
        items += fields.feed(seg, info)
        if seg.t >= fields.next_tick:
            items += fields.tick(seg.t)
    return items


def test_a_flow_reads_the_fields_that_vary_in_streams_of_its_own():
    words = [int.from_bytes(b"reads in the identification field!"[i:i + 2], "big") for i in range(0, 34, 2)] * 4
    fields = HeaderFields()
    info = _info()
    items = _feed(fields, [_tcp(1 + n * 0.01, ident=w) for n, w in enumerate(words)], info)
    items += fields.close()
    got = _by_chain(items)
    assert got == {("tcp", "IPv4 identification"): b"".join(w.to_bytes(2, "big") for w in words)}
    assert info.app == ""           # the flow's application is what its own bytes say


def test_what_a_stack_chose_is_not_read():
    """A TTL and a window of one value, an identification and a timestamp that count up."""
    fields = HeaderFields()
    items = _feed(fields, [Segment(1 + n * 0.01, "net", "tcp", SRC, 40000, DST, 443, b"x", 1 + n, 0, ACK,
                                   head=TCP_HEAD.pack(7000 + n, 0, 64, 502, 0, struct.pack("!II", 90000 + 3 * n, 5 * n)))
                           for n in range(1000)], _info())
    assert items + fields.close() == []
    assert counter_steps(b"\xff\xfe\xff\xff\x00\x00\x00\x03", 2) == b"\x01\x01\x03"   # a counter wraps
    assert counter_steps(b"\x00\x05\x00\x01", 2) is None                         # ... and does not count down
    assert counter_steps(b"\x00\x00\x01\x00\x00\x00\x01\xff", 4) == b"\xff"      # the low byte of each step
    assert counter_steps(b"ab" + b"ac", 1) is None


def test_a_counter_s_steps_are_read_once_they_are_more_than_one_step():
    """An identification raised by a byte of a file each packet (0 to 255: a counter's steps)."""
    data = b"@read1\nACGTTGCAAGGT\n+\nFFFFFFFFFFFF\n" * 3
    ids, ident = [], 7000
    for b in data:
        ident = (ident + b) & 0xFFFF
        ids.append(ident)
    fields = HeaderFields()
    items = _feed(fields, [_tcp(1 + n * 0.01, ident=i) for n, i in enumerate(ids)], _info()) + fields.close()
    assert _by_chain(items) == {("tcp", "IPv4 identification", STEPS): data[1:]}


def test_the_gaps_between_a_flow_s_packets_are_a_field_of_the_record():
    """A byte of a file a delay of as many milliseconds."""
    data = b"a byte a delay: the reads in the timing!"
    fields = HeaderFields()
    t, segments = 1.0, []
    for n, b in enumerate(data):
        t += b / 1000
        segments.append(_tcp(t, ident=n))
    items = _feed(fields, segments, _info()) + fields.close()
    # (its first packets, while it was short, were the site's short flows' too)
    assert _by_chain(items) == {("tcp", "packet gap (ms)"): data[1:],
                                ("tcp", SITE_GAP, ACROSS): data[1:OWN_STREAM_RECORDS]}


def test_payload_sizes_are_a_field_of_the_record():
    """The low byte of each payload's length: a datagram of 256 bytes plus a byte of a file."""
    data = b"sizes of datagrams, a byte of the file each...."
    fields = HeaderFields()
    info = _info(transport="udp")
    items = _feed(fields, [Segment(1 + n * 0.01, "net", "udp", SRC, 40000, DST, 443, bytes(256 + b),
                                   head=V4_HEAD.pack(n, 0, 64)) for n, b in enumerate(data)], info)
    assert _by_chain(items + fields.close()) == {("udp", "payload size"): data}


def test_short_flows_join_their_site_s_stream_once_quiet():
    """A connection a word (a SYN with the word in its identification), in the order they came."""
    data = b"@read1 in SYNs, one a connection, each its own flow....."
    fields = HeaderFields()
    items = []
    for n in range(0, len(data), 2):
        seg = _tcp(1 + n * 0.01, ident=int.from_bytes(data[n:n + 2], "big"), flags=SYN, port=30000 + n, seq=n)
        items += _feed(fields, [seg], _info(30000 + n))
    assert ("tcp", "IPv4 identification", ACROSS) not in _by_chain(items)     # the last flows still wait ...
    items += fields.tick(2 + QUIET_S)                                          # ... until quiet
    got = _by_chain(items)
    assert got[("tcp", "IPv4 identification", ACROSS)] == data
    assert got[("tcp", "TCP source port", ACROSS)] == b"".join((30000 + n).to_bytes(2, "big")
                                                                for n in range(0, len(data), 2))
    assert got[("tcp", "TCP initial sequence number", ACROSS)] == b"".join(n.to_bytes(4, "big")
                                                                            for n in range(0, len(data), 2))
    assert ("tcp", "IPv4 time to live", ACROSS) not in got                    # 64 each: one value


def test_the_gaps_between_a_site_s_short_flows_packets_are_read_across_connections():
    """A datagram a byte's milliseconds after the one before, each from a new port (one used again: no
    new flow, still the site's); a long flow's packets, once it reads its own streams, are not the site's."""
    data = b"a byte a delay between datagrams: reads in the timing!"
    fields = HeaderFields()
    items, t = [], 1.0
    for n, b in enumerate(data):
        t += b / 1000
        port = 20000 + (n % 40)             # the first ports come again
        items += _feed(fields, [_datagram(t, port, n)], _info(port, "udp"))
    long_flow = [_tcp(t + 1 + n * 0.0013, ident=n, port=45000) for n in range(OWN_STREAM_RECORDS + 30)]
    items += _feed(fields, long_flow, _info(45000)) + fields.close()
    got = _by_chain(items)
    assert got[("udp", SITE_GAP, ACROSS)] + got.get(("tcp", SITE_GAP, ACROSS), b"") == data[1:] + bytes(
        (round((long_flow[0].t - t) * 1000) & 0xFF,)) + b"\x01" * (OWN_STREAM_RECORDS - 1)


def test_a_site_s_stream_of_one_value_says_nothing_until_it_changes():
    fields = HeaderFields()
    items = []
    for n in range(600):                      # queries from random ports of a stack with TTL 64
        head = V4_HEAD.pack(n, 0, 64)
        items += fields.feed(Segment(1 + n * 0.01, "net", "udp", SRC, 1024 + n, DST, 53, b"q", head=head),
                             _info(1024 + n, "udp"))
    items += fields.tick(10)
    assert ("udp", "IPv4 time to live", ACROSS) not in _by_chain(items)
    items += fields.feed(Segment(20, "net", "udp", SRC, 5000, DST, 53, b"q", head=V4_HEAD.pack(1, 0, 65)),
                         _info(5000, "udp"))
    items += fields.close()
    got = _by_chain(items)[("udp", "IPv4 time to live", ACROSS)]
    assert got == b"@" * heads.PENDING + b"A"          # the value before, as far as a chunk's overlap goes


def test_echo_identifiers_and_sequences_and_only_a_syn_s_port():
    fields = HeaderFields()
    items = []
    for n, word in enumerate((b"ECHO", b"ID+S", b"EQ!!")):
        ident, seq = struct.unpack("!HH", word)
        seg = Segment(1 + n, "net", "icmp", SRC, ident, DST, ident, b"", head=V4_HEAD.pack(n, 0, 64) + word[2:])
        items += fields.feed(seg, _info(ident, "icmp"))
    items += fields.feed(_tcp(5, flags=SYN | ACK, port=9), _info(9))        # an answer's SYN: no connection of its own
    got = _by_chain(items + fields.close())
    assert got[("icmp", "ICMP echo identifier and sequence", ACROSS)] == b"ECHOID+SEQ!!"
    assert got[("icmp", "ICMP echo identifier", ACROSS)] == b"ECIDEQ"
    assert ("tcp", "TCP source port", ACROSS) not in got


def test_a_quiet_flow_hands_on_what_it_holds_at_the_tick_a_live_session_gives():
    fields = HeaderFields()
    info = _info()
    rng = random.Random(3)
    segments = [_tcp(1 + n * 0.001, ident=rng.getrandbits(16)) for n in range(OWN_STREAM_RECORDS + 3)]
    items = _feed(fields, segments, info)
    assert not items
    items = fields.tick(segments[-1].t + QUIET_S)
    assert _by_chain(items)[("tcp", "IPv4 identification")] == b"".join(s.head[:2] for s in segments)


def test_streams_and_flows_are_bounded_and_hand_on_what_they_held(monkeypatch):
    monkeypatch.setattr(heads, "MAX_ACROSS", 4)
    monkeypatch.setattr(heads, "MAX_FLOWS", 8)
    fields = HeaderFields()
    items = []
    rng = random.Random(4)
    sent = {}
    for n in range(40):          # a site each: its stream of source ports is ended when a fifth begins
        dst = f"198.51.100.{n}"
        info = _info(2000 + n, "udp", dst)
        ports = [rng.randrange(1024, 65536) for _ in range(3)]
        sent[dst] = b"".join(p.to_bytes(2, "big") for p in ports)
        for k, port in enumerate(ports):
            items += fields.feed(Segment(1 + n + k * 0.01, "net", "udp", SRC, port, dst, 53, b"q",
                                         head=V4_HEAD.pack(rng.getrandbits(16), 0, 64)), info)
        assert len(fields.across) <= 4 and len(fields.flows) <= 8
    got: dict[str, bytes] = {}
    for item in items + fields.close():
        if item.chain == ("udp", "UDP source port", ACROSS):
            got[item.destination] = got.get(item.destination, b"") + item.data
    assert got == sent


@pytest.mark.parametrize("size", [1, 2, 4])
def test_a_field_of_random_values_is_read(size):
    values = random.Random(size).randbytes(64 * size)
    assert values != values[:size] * 64 and counter_steps(values, size) is None


def test_option_values_are_a_stream_of_their_own_once_they_say_enough():
    """An MD5 signature option a packet (16 bytes) is read; a SYN's segment size and window scale, the same
    on every connection, say nothing."""
    fields = HeaderFields()
    signed = b"sixteen bytes!!!" * 2 + b"and sixteen more"
    items = []
    for n in range(3):
        seg = _tcp(1 + n * 0.01)
        seg.head += signed[16 * n:16 * n + 16]
        items += fields.feed(seg, _info())
    for n in range(40):
        seg = _tcp(2 + n * 0.01, flags=SYN, port=30000 + n)
        seg.head += b"\x05\xb4\x07"
        items += fields.feed(seg, _info(30000 + n))
    got = _by_chain(items + fields.close())
    assert got[("tcp", "option values (TCP, IP)")] == signed
    assert ("tcp", "option values (TCP, IP)", ACROSS) not in got


def test_a_site_s_stream_hands_on_what_its_parser_holds_once_quiet():
    """A stream across connections its parser reads in chunks: what it holds goes on at the tick after
    it went quiet, not when the session ends."""
    fields = HeaderFields()
    rng = random.Random(5)
    sent = b""
    for n in range(200):            # 400 bytes: 256 of them handed to the parser as they came
        ident = rng.getrandbits(16)
        sent += ident.to_bytes(2, "big")
        fields.feed(_tcp(1 + n * 0.001, ident=ident, flags=SYN, port=20000 + n), _info(20000 + n))
    items = fields.tick(1.2 + QUIET_S) + fields.tick(2.5)
    assert _by_chain(items)[("tcp", "IPv4 identification", ACROSS)] == sent


def test_a_clock_that_stands_still_cannot_make_it_hold_more_than_its_bound(monkeypatch):
    monkeypatch.setattr(heads, "MAX_HELD", 4096)
    fields = HeaderFields()
    rng = random.Random(6)
    items, sent = [], {}
    for n in range(3000):
        port = 10000 + n % 100
        ident = rng.getrandbits(16)
        sent[port] = sent.get(port, b"") + ident.to_bytes(2, "big")
        items += fields.feed(_tcp(1.0, ident=ident, port=port), _info(port))
        assert fields.held_bytes <= 4096 + 16
    items += fields.close()
    assert fields.held_bytes == 0
    got: dict[str, bytes] = {}
    for item in items:
        if item.chain == ("tcp", "IPv4 identification"):
            got[item.flow] = got.get(item.flow, b"") + item.data[item.repeated:]
    assert got == {_info(port).flow: data for port, data in sent.items()}


def test_a_field_found_to_say_nothing_is_judged_again_on_each_batch_however_small():
    """A flow quiet now and then (small batches): its TTL of one value stays unread; once it carries
    something else, that is read from where it began."""
    fields = HeaderFields()
    info = _info()
    items, t = [], 1.0
    for batch in (20, 2, 1, 3):
        for _ in range(batch):
            t += 0.001
            items += fields.feed(_tcp(t, ttl=64), info)
        t += 1
        items += fields.tick(t)
    items = [item for item in items if item.chain != ("tcp", "packet gap (ms)")]    # (1 ms, then 1 s: read)
    assert items == []
    word = b"reads in the TTL"
    for b in word:
        t += 0.001
        items += fields.feed(_tcp(t, ttl=b), info)
    items += fields.tick(t + 1)
    got = _by_chain(items)
    got.pop(("tcp", "packet gap (ms)"), None)
    assert got == {("tcp", "IPv4 time to live"): word}


def test_every_stream_of_values_drawn_at_random_is_one_the_analysis_does_not_weigh_as_opaque():
    """Their randomness is by design (a stack's identifications, a hello's random): read, never an
    upload of ciphertext (``model.DRAWN_AT_RANDOM``)."""
    from sandbox.captures.heads import fields
    from sandbox.model import DRAWN_AT_RANDOM
    from sandbox.protocols.websocket import MASKING_KEYS

    names = {name for transport in ("tcp", "udp", "icmp") for v6 in (False, True)
             for name, _ in fields(transport, v6)}
    names |= {name for keyed in heads.KEYED.values() for name, _, _ in keyed} | {heads.OPTIONS, MASKING_KEYS, SITE_GAP}
    names |= {"tls hello random", "tls hello session id", "tls hello key share", "tls hello psk identity",
              "ssh key exchange cookie", "dns id", "frames besides streams"}
    assert names <= DRAWN_AT_RANDOM


def _datagram(t: float, port: int, ident: int, dst: str = DST) -> Segment:
    return Segment(t, "net", "udp", SRC, port, dst, 9000, b"", head=V4_HEAD.pack(ident, 0, 64))


def test_a_stream_across_connections_takes_values_in_the_order_their_packets_came():
    """A word a datagram, each from a new port; a port comes again 100 datagrams on (its flow is quiet
    only after that one): its first word is where it came, not where the flow went quiet."""
    data = bytes(random.Random(7).randbytes(600))
    words = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    ports = [30000 + n for n in range(len(words))]
    ports[150] = ports[50]                       # the port of the 51st datagram again
    fields = HeaderFields()
    items = []
    for n, (port, word) in enumerate(zip(ports, words, strict=True)):
        items += _feed(fields, [_datagram(1 + n * 0.001, port, word)], _info(port, "udp"))
    items += fields.close()
    assert _by_chain(items)[("udp", "IPv4 identification", ACROSS)] == data
    assert fields.waiting == {}


def test_values_wait_for_a_held_flow_max_wait_seconds_at_most():
    """A flow that sends a word every 0.2 s never goes quiet: what came after its first word waits for
    it MAX_WAIT seconds, then goes on in the order it has."""
    fields = HeaderFields()
    items = []
    t = 1.0
    for n in range(14):                          # the trickling flow, and a word from a new port between
        items += _feed(fields, [_datagram(t, 5000, 0x4141 + n)], _info(5000, "udp"))
        items += _feed(fields, [_datagram(t + 0.01, 6000 + n, 0x4242 + n)], _info(6000 + n, "udp"))
        t += 0.2
    got = _by_chain(items).get(("udp", "IPv4 identification", ACROSS), b"")
    assert got and len(got) < 4 * 14 and got.startswith(b"BB")    # went on before the flow was quiet
    assert t - 1.0 > heads.MAX_WAIT
