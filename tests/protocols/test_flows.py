"""The Dissector: direction, bookkeeping, parser choice, gaps, errors, TLS plaintext, memory bounds."""

from __future__ import annotations

import io
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.captures import open_capture
from sandbox.captures.writer import PcapWriter, TcpConversation, udp
from sandbox.model import ACK, PSH, SYN, Payload, Segment
from sandbox.protocols import flows
from sandbox.protocols.flows import Dissector

CLIENT, SERVER = ("10.0.0.2", 51514), ("93.184.216.34", 443)


class Hello:
    """A toy stream parser: claims flows whose client starts with HELLO; records what it was told."""

    name: ClassVar[str] = "hello"
    calls: ClassVar[list] = []

    @staticmethod
    def detect(first_out: bytes, first_in: bytes, sport: int, dport: int) -> bool:
        return first_out.startswith(b"HELLO")

    def __init__(self, ctx):
        self.ctx = ctx
        Hello.calls.append(("init", ctx.opener, ctx.chain))
        ctx.info.app = "hello"
        ctx.destination = "hello.example"

    def feed(self, direction, data, t):
        Hello.calls.append(("feed", direction, data))
        if b"BOOM" in data:
            raise ValueError("boom\nsecond line")
        return [self.ctx.payload(data, "hello", direction, t)]

    def gap(self, direction, size):
        Hello.calls.append(("gap", direction, size))
        return []

    def close(self, t):
        Hello.calls.append(("close",))
        return []


class PortHint(Hello):
    name: ClassVar[str] = "porthint"
    ports: ClassVar[tuple[int, ...]] = (7000,)

    def __init__(self, ctx):
        super().__init__(ctx)
        ctx.info.app = "porthint"

    @staticmethod
    def detect(first_out, first_in, sport, dport):
        return False


class Echo:
    name: ClassVar[str] = "echo"

    @staticmethod
    def detect(data, sport, dport):
        return dport == 7

    def __init__(self, ctx):
        self.ctx = ctx
        ctx.info.app = "echo"

    def feed(self, direction, data, t):
        return [self.ctx.payload(data, "echo", direction, t)]

    def close(self, t):
        return []


@pytest.fixture(autouse=True)
def _reset_calls():
    Hello.calls = []


def _segments(build) -> list[Segment]:
    buf = io.BytesIO()
    w = PcapWriter(buf)
    build(w)
    path = io.BytesIO(buf.getvalue())
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(path.getvalue())
        f.flush()
        return list(open_capture(f.name))


def _run(segs, **kw) -> tuple[Dissector, list]:
    d = Dissector(**{"stream_parsers": [Hello, PortHint], "datagram_parsers": [Echo], **kw})
    items = []
    for s in segs:
        items += d.feed(s)
    items += d.close()
    return d, items


def _conv(w, out: bytes, back: bytes, client=CLIENT, server=SERVER, close=True, t0=10.0, **kw):
    c = TcpConversation(w, client, server, t0=t0, **kw)
    c.send(out)
    c.send(back, from_client=False)
    if close:
        c.close()
    return c


def test_direction_bookkeeping_and_flow_id():
    segs = _segments(lambda w: _conv(w, b"HELLO there", b"hi back"))
    d, items = _run(segs)
    (info,) = d.flows.values()
    assert info.flow == "tcp 10.0.0.2:51514 > 93.184.216.34:443"
    assert (info.app, info.packets, info.bytes_out, info.bytes_in) == ("hello", len(segs), 11, 7)
    assert info.t_first == segs[0].t and info.t_last == segs[-1].t
    assert [(p.direction, p.data, p.chain) for p in items] == [
        ("out", b"HELLO there", ("tcp", "hello")), ("in", b"hi back", ("tcp", "hello"))]
    assert items[0].destination == "hello.example" and items[0].flow == info.flow
    assert Hello.calls[-1] == ("close",)


def test_instrument_cidr_overrides_the_opener():
    segs = _segments(lambda w: _conv(w, b"x", b"HELLO", client=("8.8.8.8", 40000), server=("10.9.0.5", 22)))
    d, items = _run(segs, instrument=["10.9.0.0/16"])
    (info,) = d.flows.values()
    assert info.flow == "tcp 10.9.0.5:22 > 8.8.8.8:40000"
    assert (info.bytes_out, info.bytes_in) == (5, 1)
    assert info.app == "hello"          # first_out is the instrument's bytes, as the contract says
    assert ("init", "in", ("tcp",)) in Hello.calls   # ... and ctx.opener says the far end is the client
    assert [(p.direction, p.data) for p in items] == [("in", b"x"), ("out", b"HELLO")]


def test_port_hint_then_raw_fallback():
    segs = _segments(lambda w: _conv(w, b"????", b"!!!!", server=("10.0.0.1", 7000)))
    d, _ = _run(segs)
    assert next(iter(d.flows.values())).app == "porthint"
    segs = _segments(lambda w: _conv(w, b"????", b"!!!!", server=("10.0.0.1", 7001)))
    d, items = _run(segs)
    assert next(iter(d.flows.values())).app == "raw"
    assert [(p.chain, p.data, p.stream_offset) for p in items] == [(("tcp",), b"????", 0), (("tcp",), b"!!!!", 0)]


def test_parser_exception_becomes_flow_error_and_raw_takes_over():
    def build(w):
        c = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        c.send(b"HELLO 1")
        c.send(b"BOOM")
        c.send(b"after")
        c.close()

    d, items = _run(_segments(build))
    (info,) = d.flows.values()
    assert info.errors == ["hello: ValueError: boom"]
    assert [p.data for p in items if p.chain == ("tcp", "hello")] == [b"HELLO 1"]
    raw = [p for p in items if p.chain == ("tcp",)]
    assert b"".join(p.data for p in raw) == b"BOOMafter" and raw[0].stream_offset == 7


def test_holes_reach_the_parser_as_gaps():
    def build(w):
        c = TcpConversation(w, CLIENT, SERVER, t0=1.0, mss=5)
        frames = c.build(b"HELLO" + b"lost!" + b"kept.")
        for t, f in frames:
            if b"lost!" not in f:
                w.write(f, t)
        c.close()

    _run(_segments(build))
    assert ("gap", "out", 5) in Hello.calls
    assert Hello.calls.index(("gap", "out", 5)) < Hello.calls.index(("feed", "out", b"kept."))


def test_udp_first_sender_is_out_and_datagram_parsers():
    def build(w):
        udp(w, ("10.0.0.5", 9999), ("10.0.0.6", 7), b"ping", t=1.0)
        udp(w, ("10.0.0.6", 7), ("10.0.0.5", 9999), b"pong", t=1.5)
        udp(w, ("10.0.0.5", 1000), ("10.0.0.6", 1001), b"data", t=2.0)

    d, items = _run(_segments(build))
    echo, other = d.flows.values()
    assert echo.flow == "udp 10.0.0.5:9999 > 10.0.0.6:7" and echo.app == "echo"
    assert (echo.bytes_out, echo.bytes_in, echo.packets) == (4, 4, 2)
    assert other.app == "raw"
    assert [(p.chain, p.data) for p in items if p.flow == other.flow] == [(("udp",), b"data")]


def test_tls_plaintext_goes_to_a_parser_on_the_named_flow():
    segs = _segments(lambda w: _conv(w, b"\x16\x03\x01ciphertext", b"\x16\x03\x03more", close=False))
    plain = [Segment(11.0, "net", "tls", *CLIENT, *SERVER, b"HELLO decrypted"),
             Segment(11.1, "net", "tls", *SERVER, *CLIENT, b"reply")]
    d, items = _run(segs + plain)
    (info,) = d.flows.values()
    assert info.decrypted
    dec = [p for p in items if p.chain[:2] == ("tcp", "tls")]
    assert [(p.chain, p.direction, p.data) for p in dec] == [
        (("tcp", "tls", "hello"), "out", b"HELLO decrypted"), (("tcp", "tls", "hello"), "in", b"reply")]
    assert info.bytes_out == 13     # ciphertext only: plaintext is not counted twice


def test_plaintext_after_an_idle_flush_unsettles_the_flow_until_the_next():
    """A live proxy's plaintext (the --block feed) may come before the wire's packets do, which the
    raw recorder writes later: the flow is not settled until its parsers have had that plaintext
    (before, the idle flush before it still counted, and a --block judge let a raw TLS message of
    reads through when the recording lagged)."""
    segs = _segments(lambda w: _conv(w, b"\x16\x03\x01ciphertext", b"\x16\x03\x03more", close=False))
    d = Dissector()
    for seg in segs:
        d.feed(seg)
    d.tick(segs[-1].t + 1.0)
    (name,) = d.flows
    quiet = d.settled(name)
    assert quiet is not None
    d.feed(Segment(quiet + 0.5, "net", "tls", *CLIENT, *SERVER, b"reads reads reads"))
    assert d.settled(name) is None                 # its plaintext went in: held back, not settled
    d.tick(quiet + 1.0)
    assert d.settled(name) == quiet + 1.0


def test_port_reuse_after_close_starts_a_new_flow():
    def build(w):
        _conv(w, b"HELLO a", b"1")
        c = TcpConversation(w, CLIENT, SERVER, t0=20.0, isn_client=90_000)
        c.send(b"HELLO b")
        c.close()

    d, items = _run(_segments(build))
    assert list(d.flows) == ["tcp 10.0.0.2:51514 > 93.184.216.34:443",
                             "tcp 10.0.0.2:51514 > 93.184.216.34:443 #2"]
    assert [p.data for p in items if p.direction == "out"] == [b"HELLO a", b"HELLO b"]


def test_bytes_after_a_reset_go_to_a_new_lane_of_the_same_flow():
    """A RST the receiver ignored (a bad checksum, out of window) does not end what is read."""
    def build(w):
        c = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        c.send(b"HELLO a")
        c.reset()
        c.send(b"HELLO b")

    d, items = _run(_segments(build))
    assert list(d.flows) == ["tcp 10.0.0.2:51514 > 93.184.216.34:443"]
    assert [p.data for p in items if p.direction == "out"] == [b"HELLO a", b"HELLO b"]
    assert Hello.calls.count(("close",)) == 2 and d.flows[list(d.flows)[0]].bytes_out == 14


def test_other_bytes_sent_again_are_read_in_a_lane_of_their_own_and_reported():
    def build(w):
        c = TcpConversation(w, CLIENT, SERVER, t0=1.0, acks=False)
        c.handshake()
        w.write(c.segment_at(b"HELLO junk", c.seq[True]), c._tick())
        c.send(b"HELLO real")
        c.send(b"HELLO real", from_client=False)
        c.close()

    d, items = _run(_segments(build))
    out = [(p.chain, p.data) for p in items if p.direction == "out"]
    assert out == [(("tcp", "hello"), b"HELLO junk"), (("tcp", "resent", "hello"), b"HELLO real")]
    (info,) = d.flows.values()
    assert (info.bytes_out, info.resent_out) == (10, 10)
    (row,) = d.not_examined()
    assert row == {"where": info.flow, "what": flows.RESENT_OUT, "packets": 0, "bytes": 10}


def test_what_streams_keep_is_bounded_together_least_recent_flows_first(monkeypatch):
    monkeypatch.setattr(flows, "MAX_KEPT_TOTAL", 3000)

    def build(w):
        convs = [TcpConversation(w, (CLIENT[0], 50000 + n), SERVER, t0=1.0 + n, acks=False) for n in range(3)]
        for c in convs:          # nobody acknowledges: each keeps its 1200 bytes
            c.send(b"HELLO " * 200)
        w.write(convs[0].segment_at(b"HELLO " * 200, convs[0].seq[True] - 1200), 5.0)    # resent as it was

    d = Dissector(stream_parsers=[Hello])
    for seg in _segments(build):
        d.feed(seg)
    assert d.kept.used == 1200      # the third flow's bytes went over: the first two let go of theirs
    (row,) = d.not_examined()       # so the first one's copy can no longer be shown the same
    assert row["where"].startswith("tcp 10.0.0.2:50000") and row["what"] == flows.RESENT_OUT
    d.close()
    assert d.kept.used == 0


def test_a_flow_both_ends_opened_reports_the_far_end_s_bytes_unless_the_addresses_decide():
    def build(client):
        def write(w):
            c = TcpConversation(w, client, SERVER, t0=1.0)
            w.write(c._frame(False, SYN), c._tick())      # the far end's SYN first (forged)
            c.send(b"HELLO there")
            c.close()
        return write

    beyond = ("198.51.100.7", 51514)                      # an instrument with an address beyond the bench
    segs = _segments(build(beyond))
    d, _ = _run(segs)
    (row,) = d.not_examined()
    assert row == {"where": "tcp 93.184.216.34:443 > 198.51.100.7:51514", "what": flows.CONTESTED, "packets": 0,
                   "bytes": 11}
    for side in (["198.51.100.7/32"], ["0.0.0.0/0", "!93.184.216.34"], ["0.0.0.0/0", "!93.184.216.34:443"],
                 ["!93.184.216.34"], ["!93.184.216.34:443"]):     # exceptions alone: every other address
        d, items = _run(segs, instrument=side)     # the instrument's addresses, or its far end's (endpoint)
        assert d.not_examined() == [] and [p.direction for p in items] == ["out"], side
    # an instrument on the bench (a private address) and a far end beyond it: the bench's end is the
    # instrument's, whoever sent the first SYN
    d, items = _run(_segments(build(CLIENT)))
    assert d.not_examined() == [] and [(p.direction, p.data) for p in items] == [("out", b"HELLO there")]


def test_the_side_a_packet_was_seen_on_says_which_end_is_the_instrument_where_addresses_do_not():
    """A connection the far end opens (remote support): its SYN left the rig towards the instrument,
    so the instrument is the end it went to, and what it sends back is examined as its own."""
    def seg(src, dst, data, seq, flags, side):
        return Segment(1.0, "net", "tcp", *src, *dst, data, seq, 0, flags, meta={side: 3})

    segs = [seg(SERVER, CLIENT, b"", 0, SYN, "left"), seg(CLIENT, SERVER, b"", 100, SYN | ACK, "arrived"),
            seg(SERVER, CLIENT, b"get the run", 1, ACK | PSH, "left"),
            seg(CLIENT, SERVER, b"HELLO here", 101, ACK | PSH, "arrived")]
    for instrument, outward in (([], b"HELLO here"), (["link:3"], b"HELLO here")):    # the bench's end, or the link
        d, items = _run(segs, instrument=instrument)
        assert [p.data for p in items if p.direction == "out"] == [outward], instrument
    # both ends sent a SYN (a simultaneous open): where the link says who sent each, nothing is contested
    both = [segs[0], seg(CLIENT, SERVER, b"", 100, SYN, "arrived"), *segs[1:]]
    for instrument in ([], ["link:3"]):         # the bench's end, or the link, decides
        d, items = _run(both, instrument=instrument)
        assert d.not_examined() == [] and [p.data for p in items if p.direction == "out"] == [b"HELLO here"]
    # with both ends beyond the bench and no link named, nothing tells them apart: reported
    far = [Segment(1.0, "net", "tcp", "198.51.100.7", CLIENT[1], *SERVER, s.data, s.seq, 0, s.flags)
           if (s.src, s.sport) == CLIENT else Segment(1.0, "net", "tcp", *SERVER, "198.51.100.7", CLIENT[1], s.data,
                                                       s.seq, 0, s.flags) for s in both]
    assert [row["what"] for row in _run(far)[0].not_examined()] == [flows.CONTESTED]


def test_urgent_bytes_are_taken_out_in_a_lane_of_their_own_and_reported():
    """Each urgent pointer names the byte before it (RFC 6093): the stream a receiver reads lacks it."""
    t = [0.0]

    def seg(seq: int, data: bytes, urgent: int = 0) -> Segment:
        t[0] += 0.01
        return Segment(t[0], "net", "tcp", CLIENT[0], CLIENT[1], SERVER[0], SERVER[1], data, seq, 0,
                       ACK | (flows.URG if urgent else 0), meta={"urgent": urgent} if urgent else None)

    segs = [Segment(0.0, "net", "tcp", *CLIENT, *SERVER, b"", 99, 0, SYN), seg(100, b"HELLO "),
            seg(106, b"wor#ld", urgent=4), seg(112, b"! and #mo", urgent=7), seg(121, b"re")]
    d, items = _run(segs)
    out = [(p.chain, p.data) for p in items if p.direction == "out"]
    assert out[0] == (("tcp", "hello"), b"HELLO ") and (("tcp", "hello"), b"wor#ld") in out
    assert b"".join(data for chain, data in out if chain[:2] == ("tcp", "urgent")) == b"world! and more"
    (row,) = d.not_examined()
    assert row["what"] == flows.URGENT_OUT and row["bytes"] == 2


def test_mid_stream_pickup_guesses_client_by_port():
    segs = [Segment(1.0, "net", "tcp", "10.0.0.1", 443, "10.0.0.2", 50000, b"resp", 77, 99, ACK | PSH),
            Segment(1.1, "net", "tcp", "10.0.0.2", 50000, "10.0.0.1", 443, b"HELLO", 99, 81, ACK | PSH)]
    d, items = _run(segs)
    (info,) = d.flows.values()
    assert info.flow == "tcp 10.0.0.2:50000 > 10.0.0.1:443" and info.app == "hello"
    assert {(p.direction, p.data) for p in items} == {("in", b"resp"), ("out", b"HELLO")}


def test_idle_flows_are_closed_and_memory_bounded(monkeypatch):
    monkeypatch.setattr(flows, "MAX_ACTIVE_FLOWS", 50)
    d = Dissector(stream_parsers=[], datagram_parsers=[])
    out = []
    for i in range(500):
        out += d.feed(Segment(float(i) / 100, "net", "udp", "10.0.0.1", 1000 + i, "10.0.0.2", 53, b"q"))
    assert len(d._active) <= 50 and len(d.flows) == 500
    out += d.feed(Segment(10_000.0, "net", "tcp", "10.0.0.1", 1, "10.0.0.2", 2, b"", 0, 0, SYN))
    assert len(d._active) == 1                       # everything else idled out
    assert sum(len(p.data) for p in out if isinstance(p, Payload) and p.chain == ("udp",)) == 500
    assert all("evicted" in f.errors[0] for f in list(d.flows.values())[:400])
    # each a short flow: their bytes also read joined with the other short flows to the site
    assert b"q" * 100 in b"".join(p.data for p in out if isinstance(p, Payload) and "short flows" in p.chain)


def test_raw_dissector_on_real_http_equals_reassembled_stream(shared_data):
    path = shared_data / "captures" / "http" / "suricata-verify_http-multiple100_curl_multipart_upload.pcap"
    d = Dissector(stream_parsers=[], datagram_parsers=[])
    items = []
    for seg in open_capture(path):
        items += d.feed(seg)
    items += d.close()
    (info,) = d.flows.values()
    out = sorted((p for p in items if p.direction == "out"), key=lambda p: p.stream_offset)
    stream = bytearray()
    for p in out:
        stream[p.stream_offset:] = p.data
    assert len(stream) == info.bytes_out == 34717
    assert stream.startswith(b"POST /upload")


def test_usb_transfers_are_oriented_by_their_direction():
    def usb(t, direction, data):
        return Segment(t, "usb", "usb", "3.6", 1, "host", 0, data, frame=int(t),
                       meta={"direction": direction, "transfer": "bulk", "endpoint": 1})

    d, items = _run([usb(1.0, "in", b"device says"), usb(2.0, "out", b"host writes")])
    (info,) = d.flows.values()
    assert info.flow == "usb host > 3.6" and info.destination == "usb 3.6"
    assert (info.bytes_out, info.bytes_in, info.channel) == (11, 11, "usb")
    # undescribed endpoints go raw: OUT to the correlator, IN is context only
    assert {(p.direction, p.data, p.chain, p.channel) for p in items} == {
        ("out", b"host writes", ("usb 3.6", "raw"), "usb")}


_ENDPOINTS = [("10.0.0.2", 40000), ("10.0.0.9", 80), ("10.0.0.9", 53), ("2001:db8::1", 443)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tcp", "udp", "tls"]), st.integers(0, 3), st.integers(0, 3),
                          st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1), st.integers(0, 0x3F),
                          st.sampled_from([b"", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"\x16\x03\x01\x00\x05hello",
                                           b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"220 ready\r\n", b"\x00" * 40]),
                          st.binary(max_size=64), st.floats(0, 1000)), max_size=40))
def test_any_segment_sequence_never_raises(items):
    d = Dissector()    # the real registry: parser bugs must end up as flow errors, never exceptions
    for transport, a, b, seq, ack, flags, head, tail, t in items:
        (src, sport), (dst, dport) = _ENDPOINTS[a], _ENDPOINTS[b]
        d.feed(Segment(t, "net", transport, src, sport, dst, dport, head + tail, seq, ack, flags))
    d.close()
    assert all(isinstance(e, str) for info in d.flows.values() for e in info.errors)


# --------------------------------------------------------------------------- claims, last, flows


class Announcer(Hello):
    """Claims the endpoint named after "AT " for Claimed, as an FTP control parser does."""

    name: ClassVar[str] = "announcer"

    def feed(self, direction, data, t):
        if data.startswith(b"AT "):
            ip, port = data[3:].decode().split()
            self.ctx.claim((ip, int(port)), Claimed, {"by": self.ctx.flow})
        return []


class Claimed(Hello):
    name: ClassVar[str] = "claimed"

    @staticmethod
    def detect(first_out, first_in, sport, dport):
        return False

    def __init__(self, ctx):
        super().__init__(ctx)
        ctx.info.app = "claimed"
        ctx.info.meta["claimed"] = ctx.claimed


def test_a_claim_picks_the_parser_of_the_next_flow_to_that_endpoint_once():
    def build(w):
        ctl = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        ctl.send(b"HELLO")
        ctl.send(b"AT 10.0.0.7 7001")
        ctl.send(b"AT 2001:0db8:0::1 7002")   # any text form: matched as the readers write it
        for t, (client, server) in enumerate([(("10.0.0.2", 40001), ("10.0.0.7", 7001)),    # claimed
                                              (("10.0.0.7", 7001), ("10.0.0.8", 40002)),    # used up
                                              (("2001:db8::2", 40003), ("2001:db8::1", 7002))]):
            _conv(w, b"data", b"back", client=client, server=server, t0=2.0 + t)

    d, items = _run(_segments(build), stream_parsers=[Announcer, Hello])
    control, first, again, v6 = d.flows.values()
    assert (first.app, again.app, v6.app) == ("claimed", "raw", "claimed")
    assert first.meta["claimed"] == {"by": control.flow}
    assert [p.data for p in items if p.flow == first.flow] == [b"data", b"back"]
    assert not d.shared["claims"]


def test_a_claim_on_the_opener_side_and_on_a_late_announcement():
    """Active mode: the claimed endpoint opens nothing (the far end connects to it); and a claim
    made after the flow's SYN but before its first bytes still counts."""
    def build(w):
        ctl = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        ctl.send(b"HELLO")
        late = TcpConversation(w, ("10.0.0.2", 40005), ("10.0.0.7", 7005), t0=2.0)
        late.handshake()
        ctl.send(b"AT 10.0.0.7 7005")
        late.send(b"data")
        late.close()
        ctl.send(b"AT 10.0.0.2 40006")
        _conv(w, b"data", b"back", client=("10.0.0.7", 20), server=("10.0.0.2", 40006), t0=3.0)

    d, _ = _run(_segments(build), stream_parsers=[Announcer, Hello])
    assert [f.app for f in d.flows.values()] == ["hello", "claimed", "claimed"]


def test_a_claim_applies_to_the_lane_of_the_claimant_chain():
    """A claim made on plaintext TCP does not capture a flow's decrypted-TLS lane, and vice versa."""
    segs = _segments(lambda w: _conv(w, b"HELLO", b"hi", close=False))
    segs.append(Segment(10.4, "net", "tls", *CLIENT, *SERVER, b"HELLO"))
    segs.append(Segment(10.5, "net", "tls", *CLIENT, *SERVER, b"AT 10.0.0.7 7001"))
    segs += _segments(lambda w: _conv(w, b"data", b"back", client=("10.0.0.2", 40001), server=("10.0.0.7", 7001),
                                      t0=11.0))
    segs.append(Segment(12.0, "net", "tls", "10.0.0.2", 40001, "10.0.0.7", 7001, b"plain"))
    d, items = _run(segs, stream_parsers=[Announcer, Hello])
    _, data = d.flows.values()
    assert data.app == "claimed"
    assert {(p.chain, p.data) for p in items if p.flow == data.flow} == {
        (("tcp",), b"data"), (("tcp",), b"back"), (("tcp", "tls", "hello"), b"plain")}


def test_last_names_the_flow_and_direction_of_each_segment():
    def build(w):
        a = TcpConversation(w, CLIENT, SERVER, t0=1.0)
        b = TcpConversation(w, ("10.0.0.2", 51515), SERVER, t0=1.0)
        a.send(b"HELLO a")
        udp(w, ("10.0.0.5", 9999), ("10.0.0.6", 7), b"ping", t=1.5)
        b.send(b"HELLO bb")
        a.send(b"back", from_client=False)
        b.close()
        a.close()

    segs = _segments(build)
    d = Dissector(stream_parsers=[Hello], datagram_parsers=[Echo], instrument=["10.0.0.0/8"])
    assert d.last is None
    out_bytes: dict[str, int] = {}
    for seg in segs:
        d.feed(seg)
        assert d.last is d.flows[d.last.flow]
        assert (d.last.src, d.last.sport) in {(seg.src, seg.sport), (seg.dst, seg.dport)}
        assert d.last_direction == ("out" if (seg.src, seg.sport) == (d.last.src, d.last.sport) else "in")
        if d.last_direction == "out":
            out_bytes[d.last.flow] = out_bytes.get(d.last.flow, 0) + len(seg.data)
    assert out_bytes == {f.flow: f.bytes_out for f in d.flows.values()}


def test_flows_keeps_every_flowinfo_closed_swept_evicted_and_reused(monkeypatch):
    monkeypatch.setattr(flows, "MAX_ACTIVE_FLOWS", 4)
    late = 20.0 + flows.IDLE_TIMEOUT_UDP

    def build(w):
        _conv(w, b"HELLO closed", b"1")                                    # FIN both ways, lingers
        _conv(w, b"HELLO reused", b"2", t0=12.0)                           # same 4-tuple again
        udp(w, ("10.0.0.5", 9999), ("10.0.0.6", 7), b"ping", t=13.0)       # idles out at `late`
        udp(w, ("10.0.0.5", 1), ("10.0.0.6", 2), b"late", t=late)
        for i in range(5):                                                 # 6 > 4 active: 2 evicted
            _conv(w, b"HELLO open", b"3", client=("10.0.0.3", 41000 + i), close=False, t0=late + 1 + i)

    seen = []
    d = Dissector(stream_parsers=[Hello], datagram_parsers=[Echo])
    for seg in _segments(build):
        d.feed(seg)
        seen.append(d.last)
    assert len(d._active) == 4
    d.close()
    assert len(d.flows) == 9 and not d._active
    assert {id(f) for f in seen} == {id(f) for f in d.flows.values()}
    evicted = [f.flow for f in d.flows.values() if f.errors == ["evicted: too many active flows"]]
    assert evicted == ["udp 10.0.0.5:1 > 10.0.0.6:2", "tcp 10.0.0.3:41000 > 93.184.216.34:443"]
    assert [(f.bytes_out, f.bytes_in) for f in d.flows.values()][:3] == [(12, 1), (12, 1), (4, 0)]
    assert all(f.errors == [] for f in d.flows.values() if f.flow not in evicted)


# ---- protocols that begin after a preamble (found by content, as Wireshark's heuristics do) ----

def _after_preamble(tmp_path, preamble: list[tuple[bool, bytes]], then: list[tuple[bool, bytes]],
                    port: int = 1080) -> tuple[list, Dissector]:
    path = tmp_path / "late.pcap"
    with PcapWriter(path) as w:
        conv = TcpConversation(w, ("10.0.0.2", 40000), ("203.0.113.5", port), t0=1.0)
        for from_client, data in preamble + then:
            conv.send(data, from_client=from_client)
        conv.close()
    d = Dissector()
    items = [item for seg in open_capture(path) for item in d.feed(seg)]
    return items + d.close(), d


SOCKS5 = [(True, b"\x05\x01\x00"), (False, b"\x05\x00"),
          (True, b"\x05\x01\x00\x01\xcb\x00\x71\x09\x1f\x40"), (False, b"\x05\x00\x00\x01" + bytes(6))]


def test_http_after_a_socks_handshake_is_parsed_as_http(tmp_path):
    request = b"POST /upload HTTP/1.1\r\nHost: lims.example\r\nContent-Length: 11\r\n\r\nhello world"
    items, d = _after_preamble(tmp_path, SOCKS5, [(True, request), (False, b"HTTP/1.1 200 OK\r\n\r\n")])
    (flow,) = d.flows.values()
    assert flow.app == "http/1.1" and flow.destination == "lims.example"
    (body,) = [p for p in items if isinstance(p, Payload) and p.chain == ("tcp", "http/1.1 POST /upload")]
    assert body.data == b"hello world" and body.direction == "out"
    preamble = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("tcp",)
                        and p.direction == "out")
    assert preamble == b"".join(data for client, data in SOCKS5 if client)      # examined as raw before


def test_tls_after_a_login_preamble_is_tls(tmp_path, shared_data):
    hello = [s.data for s in open_capture(shared_data / "captures/tls/illustrated-tls13_capture.pcap") if s.data][0]
    items, d = _after_preamble(tmp_path, [(True, b"LOGIN rig\n"), (False, b"OK\n")], [(True, hello)], port=7000)
    (flow,) = d.flows.values()
    assert flow.app == "tls" and flow.encrypted and flow.meta.get("sni")


def test_a_protocol_beginning_past_the_bound_stays_raw(tmp_path):
    filler = [(True, b"x" * 1400)] * (flows.LATE_DETECT_BYTES // 1400 + 1)
    items, d = _after_preamble(tmp_path, SOCKS5 + filler, [(True, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")])
    (flow,) = d.flows.values()
    assert flow.app == "raw"
    assert b"GET / HTTP/1.1" in b"".join(p.data for p in items if isinstance(p, Payload))   # still examined
