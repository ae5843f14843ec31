"""TCP reassembly: order, retransmission, overlap, holes, pickup, wraparound, caps; tshark as oracle."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.captures import open_capture
from sandbox.model import ACK, FIN, PSH, RST, SYN
from sandbox.protocols import tcp
from sandbox.protocols.tcp import Chunk, Connection, Hole, KeptTotal, Resent, Stream


def _bytes(events) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Chunk))


def _pieces(data: bytes, size: int, isn: int) -> list[tuple[int, bytes]]:
    return [((isn + o) % (1 << 32), data[o:o + size]) for o in range(0, len(data), size)]


def test_in_order_after_syn_and_offsets():
    s = Stream()
    s.syn(999)
    ev = s.segment(1000, b"abc") + s.segment(1003, b"def")
    assert ev == [Chunk(0, b"abc"), Chunk(3, b"def")]


def test_out_of_order_is_put_back_in_order():
    data = os.urandom(10_000)
    s = Stream()
    s.syn(41)
    pieces = _pieces(data, 700, 42)
    ev = []
    for seq, piece in pieces[1::2] + pieces[0::2]:
        ev += s.segment(seq, piece)
    assert _bytes(ev) == data and s.buffered == 0 and s.holes == 0


def test_retransmissions_are_dropped_and_counted():
    s = Stream()
    s.syn(0)
    ev = s.segment(1, b"hello") + s.segment(1, b"hello") + s.segment(6, b" world") + s.segment(1, b"hello w")
    assert _bytes(ev) == b"hello world"
    assert s.retransmitted == 12


def test_overlap_first_seen_wins_delivered_and_buffered():
    s = Stream()
    s.syn(0)
    ev = s.segment(1, b"AAAA") + s.segment(3, b"XXYY")           # XX overlaps delivered AA
    assert _bytes(ev) == b"AAAAYY"
    s2 = Stream()
    s2.syn(0)
    ev = s2.segment(11, b"BBBB") + s2.segment(13, b"ZZCC") + s2.segment(1, b"0123456789")
    assert _bytes(ev) == b"0123456789BBBBCC"


def test_hole_on_flush_keeps_later_offsets():
    s = Stream()
    s.syn(0)
    ev = s.segment(1, b"aaaa") + s.segment(9, b"cccc") + s.segment(13, b"", fin=True)
    ev += s.flush()
    assert ev == [Chunk(0, b"aaaa"), Hole(4, 4), Chunk(8, b"cccc")]
    assert s.finished and s.hole_bytes == 4


def test_ack_past_a_missing_segment_declares_the_hole():
    c = Connection()
    c.segment("out", 100, 0, SYN, b"")
    c.segment("in", 500, 101, SYN | ACK, b"")
    assert c.segment("out", 101, 501, ACK | PSH, b"one") == [("out", Chunk(0, b"one"))]
    assert c.segment("out", 110, 501, ACK | PSH, b"three") == []          # 104..110 lost
    ev = c.segment("in", 501, 115, ACK, b"")                               # peer acks it all
    assert ev == [("out", Hole(3, 6)), ("out", Chunk(9, b"three"))]


def test_buffer_cap_declares_hole_and_moves_on(monkeypatch):
    monkeypatch.setattr(tcp, "MAX_BUFFERED_BYTES", 1000)
    s = Stream()
    s.syn(0)
    ev = []
    for i in range(1, 5):                       # offset 0..99 never arrives
        ev += s.segment(1 + 100 + i * 300, b"x" * 300)
    assert ev and ev[0] == Hole(0, 400) and s.buffered <= 1000
    assert _bytes(ev) == b"x" * 300 * (len([e for e in ev if isinstance(e, Chunk)]))


def test_mid_stream_pickup_and_peer_ack_sets_origin():
    c = Connection()
    ev = c.segment("out", 777_000, 9_000, ACK | PSH, b"GET / HTTP/1.1\r\n")
    assert ev == [("out", Chunk(0, b"GET / HTTP/1.1\r\n"))]
    ev = c.segment("in", 9_000, 777_016, ACK | PSH, b"HTTP/1.1 200 OK\r\n")
    assert ev == [("in", Chunk(0, b"HTTP/1.1 200 OK\r\n"))]


def test_sequence_wraparound_is_seamless():
    data = os.urandom(50_000)
    isn = (1 << 32) - 20_000
    s = Stream()
    s.syn(isn - 1)
    pieces = _pieces(data, 1460, isn)
    assert any(seq < 1000 for seq, _ in pieces)
    ev = []
    for seq, piece in pieces[::-1]:
        ev += s.segment(seq, piece)
    assert _bytes(ev) == data and ev[-1].offset + len(ev[-1].data) == len(data)


def test_rst_flushes_both_directions():
    c = Connection()
    c.segment("out", 0, 0, SYN, b"")
    c.segment("in", 0, 1, SYN | ACK, b"")
    c.segment("out", 5, 1, ACK, b"late")       # 1..5 missing
    ev = c.segment("in", 1, 1, RST, b"")
    assert ("out", Hole(0, 4)) in ev and ("out", Chunk(4, b"late")) in ev
    assert c.finished


def test_fin_ends_the_stream():
    c = Connection()
    c.segment("out", 0, 0, SYN, b"")
    ev = c.segment("out", 1, 0, ACK | FIN, b"bye")
    assert [e for _, e in ev] == [Chunk(0, b"bye")] and c.streams["out"].finished


def test_bytes_after_a_fin_are_delivered_and_the_fin_forgotten():
    """No honest sender writes past its FIN; a receiver that dropped the FIN (a bad checksum) reads on."""
    c = Connection()
    c.segment("out", 0, 0, SYN, b"")
    ev = c.segment("out", 1, 0, ACK | FIN, b"bye")
    ev += c.segment("out", 4, 0, ACK, b"zzz")
    assert [e for _, e in ev] == [Chunk(0, b"bye"), Chunk(3, b"zzz")]
    assert not c.streams["out"].finished
    c.segment("out", 7, 0, ACK | FIN, b"")
    assert c.streams["out"].finished


def test_bytes_after_a_reset_are_still_delivered():
    c = Connection()
    c.segment("out", 0, 0, SYN, b"")
    ev = c.segment("out", 1, 0, ACK, b"abc") + c.segment("out", 999_999, 0, RST, b"")
    assert c.streams["out"].finished
    ev += c.segment("out", 4, 0, ACK, b"def")
    assert _bytes([e for _, e in ev]) == b"abcdef"


# ---- what the sender sends again is checked against what was delivered ---------------------

def _kept_stream() -> Stream:
    s = Stream(KeptTotal())
    s.syn(0)
    return s


def test_a_retransmission_of_the_same_bytes_is_nothing_new():
    s = _kept_stream()
    ev = s.segment(1, b"hello") + s.segment(6, b" world") + s.segment(1, b"hello w") + s.segment(4, b"lo")
    assert ev == [Chunk(0, b"hello"), Chunk(5, b" world")]


def test_other_bytes_sent_again_are_resent_whether_delivered_or_buffered():
    s = _kept_stream()
    ev = s.segment(1, b"junk") + s.segment(1, b"real") + s.segment(3, b"alXX")
    assert ev == [Chunk(0, b"junk"), Resent(0, b"real"), Resent(2, b"al"), Chunk(4, b"XX")]
    s = _kept_stream()     # out of order: the one at the lower offset was delivered, the other one is checked
    ev = s.segment(5, b"BBBB") + s.segment(5, b"CCCC") + s.segment(1, b"AAAA")
    assert ev == [Chunk(0, b"AAAA"), Chunk(4, b"BBBB"), Resent(4, b"CCCC")]


def test_bytes_the_receiver_acknowledged_are_not_checked_again():
    c = Connection(KeptTotal())
    c.segment("out", 0, 0, SYN, b"")
    c.segment("in", 100, 0, SYN | ACK, b"")
    c.segment("out", 1, 101, ACK, b"abcdef")
    c.segment("in", 101, 5, ACK, b"")                              # the receiver has "abcd"
    ev = c.segment("out", 1, 101, ACK, b"XXXXYY")
    assert [e for _, e in ev] == [Resent(4, b"YY")]


def test_acknowledged_bytes_are_let_go_once_a_stream_holds_more_than_its_slack(monkeypatch):
    monkeypatch.setattr(tcp, "KEPT_SLACK", 250)
    c = Connection(KeptTotal())
    c.segment("out", 0, 0, SYN, b"")
    c.segment("in", 100, 0, SYN | ACK, b"")
    for i in range(3):
        assert c.in_order("out", 1 + 100 * i, 101, ACK, b"x" * 100)
        assert c.in_order("in", 101, 1 + 100 * (i + 1), ACK, b"")       # each acknowledged at once
    assert c.streams["out"].kept.size == 100                             # past the slack: all but the last


def test_bytes_before_the_stream_or_in_a_hole_cannot_be_compared():
    s = _kept_stream()
    ev = s.segment(1, b"aaaa") + s.segment(9, b"cccc") + s.flush()   # a hole at 4..8
    assert Hole(4, 4) in ev
    assert s.segment(5, b"bbbb") == [Resent(4, b"bbbb")]
    assert s.segment(2**32 - 10, b"x" * 5) == [Resent(-11, b"x" * 5)]   # a forged SYN moved the origin


def test_what_is_kept_is_bounded_and_what_fell_out_is_resent(monkeypatch):
    monkeypatch.setattr(tcp, "MAX_KEPT_BYTES", 1000)
    s = _kept_stream()
    for i in range(30):
        s.segment(1 + 100 * i, bytes([i]) * 100)
    assert s.kept.size <= 1000
    assert s.segment(1, bytes([0]) * 100) == [Resent(0, bytes([0]) * 100)]      # no longer kept
    assert s.segment(2901, bytes([29]) * 100) == []                            # still kept, equal


def test_streams_count_what_they_keep_together():
    total = KeptTotal()
    a, b = Stream(total), Stream(total)
    for s in (a, b):
        s.syn(0)
        s.segment(1, b"x" * 100)
    assert total.used == 200
    a.kept.drop_before(51)
    b.kept.clear()
    assert total.used == 100 and a.kept.size == 100       # an entry goes once all of it is acknowledged
    a.kept.drop_before(101)
    assert total.used == 0


def test_checking_many_retransmissions_is_not_quadratic():
    s = _kept_stream()
    data = os.urandom(tcp.MAX_KEPT_BYTES)
    for seq, piece in _pieces(data, 512, 1):
        s.segment(seq, piece)
    started = time.perf_counter()
    for seq, piece in _pieces(data, 512, 1)[-8000:]:
        assert s.segment(seq, piece) == []
    assert time.perf_counter() - started < 5.0


def test_a_connection_checks_only_when_asked():
    c = Connection()
    c.segment("out", 0, 0, SYN, b"")
    assert [e for _, e in c.segment("out", 1, 0, ACK, b"a") + c.segment("out", 1, 0, ACK, b"b")] == [Chunk(0, b"a")]


def test_reverse_order_is_not_quadratic():
    data = os.urandom(8_000 * 250)   # under both caps (bytes and segments)
    s = Stream()
    s.syn(0)
    started = time.perf_counter()
    ev = []
    for seq, piece in _pieces(data, 250, 1)[::-1]:
        ev += s.segment(seq, piece)
    assert _bytes(ev) == data
    assert time.perf_counter() - started < 5.0


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=1, max_size=3000), size=st.integers(1, 400), isn=st.integers(0, (1 << 32) - 1),
       order=st.randoms(use_true_random=False), dups=st.integers(0, 5))
def test_any_order_with_duplicates_gives_the_stream(data, size, isn, order, dups):
    pieces = _pieces(data, size, isn)
    pieces += [order.choice(pieces) for _ in range(dups)]
    order.shuffle(pieces)
    s = Stream(KeptTotal())
    s.syn(isn - 1)
    ev = []
    for seq, piece in pieces:
        ev += s.segment(seq, piece)
    ev += s.flush()
    assert _bytes(ev) == data and not any(isinstance(e, Hole | Resent) for e in ev)


# ---- tshark "Follow TCP Stream" as the oracle on real captures -------------------------------

def _follow(path, indices: list[int]) -> dict[tuple[str, str], bytes]:
    """tshark's "Follow TCP Stream" (raw) of the given streams, in one tshark run."""
    args = [a for i in indices for a in ("-z", f"follow,tcp,raw,{i}")]
    out = subprocess.run(["tshark", "-r", str(path), "-q", *args], capture_output=True, text=True,
                         check=True).stdout
    streams: dict[tuple[str, str], bytes] = {}
    for block in out.split("Follow: tcp,raw")[1:]:
        nodes = re.findall(r"^Node ([01]): (.+)$", block, re.M)
        a, b = nodes[0][1], nodes[1][1]
        sent = {(a, b): bytearray(), (b, a): bytearray()}
        for line in block.split(b, 1)[1].splitlines():
            if not line.strip() or line.startswith("="):
                continue
            sent[(b, a) if line.startswith("\t") else (a, b)] += bytes.fromhex(line.strip())
        streams.update({k: bytes(v) for k, v in sent.items()})
    return streams


def _render(ev) -> bytes:
    """A reassembly event as tshark's follow output shows it (holes as its marker text)."""
    return ev.data if isinstance(ev, Chunk) else f"[{ev.size} bytes missing in capture file]\0".encode()


def _reassemble(path) -> dict[tuple[str, str], bytes]:
    """Per (sender, receiver) ("ip:port" as tshark prints them), the reassembled bytes and holes."""
    conns: dict[tuple, Connection] = {}
    out: dict[tuple[str, str], bytearray] = defaultdict(bytearray)
    for seg in open_capture(path):
        if seg.transport != "tcp":
            continue
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (a, b) if a <= b else (b, a)
        conn = conns.setdefault(key, Connection(KeptTotal()))
        direction = "out" if (seg.src, seg.sport) == key[0] else "in"
        events = conn.segment(direction, seg.seq, seg.ack, seg.flags, seg.data)
        assert not any(isinstance(ev, Resent) for _, ev in events), "an honest capture resent other bytes"
        for d, ev in events:
            out[_pair(key, d)] += _render(ev)
    for key, conn in conns.items():
        for d, ev in conn.flush():
            out[_pair(key, d)] += _render(ev)
    return {k: bytes(v) for k, v in out.items()}


def _pair(key: tuple, direction: str) -> tuple[str, str]:
    a, b = _name(key[0]), _name(key[1])
    return (a, b) if direction == "out" else (b, a)


def _name(ep: tuple[str, int]) -> str:
    return f"[{ep[0]}]:{ep[1]}" if ":" in ep[0] else f"{ep[0]}:{ep[1]}"


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_reassembly_matches_tshark_follow_on_real_captures(shared_data):
    files = sorted(p for d in ("http", "tls") for p in (shared_data / "captures" / d).iterdir()
                   if "keylog" not in p.name)
    assert files
    checked = 0
    for path in files:
        ours = _reassemble(path)
        streams = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.stream"],
                                 capture_output=True, text=True, check=True).stdout.split()
        for pair, data in _follow(path, sorted({int(s) for s in streams if s})).items():
            assert ours.get(pair, b"") == data, (path.name, pair)
            checked += len(data)
    assert checked > 200_000


# ---- the in-order fast path is the general path, only cheaper --------------------------------

@settings(max_examples=150, deadline=None)
@given(data=st.binary(min_size=1, max_size=2000), size=st.integers(1, 300), isn=st.integers(0, (1 << 32) - 1),
       order=st.randoms(use_true_random=False), syn=st.booleans())
def test_in_order_fast_path_equals_segment(data, size, isn, order, syn):
    pieces = _pieces(data, size, isn)
    segs = [("out", seq, piece, ACK | PSH) for seq, piece in pieces]
    segs += [("in", 7 + i, b"r", ACK) for i in range(3)]            # the peer talks and acks too
    for _ in range(3):                                               # some reordering and duplicates
        i, j = order.randrange(len(segs)), order.randrange(len(segs))
        segs[i], segs[j] = segs[j], segs[i]
        segs.insert(order.randrange(len(segs) + 1), order.choice(segs))
    if order.random() < 0.3:
        segs.insert(order.randrange(len(segs) + 1), ("out", pieces[-1][0], b"", FIN | ACK))
    slow, fast = Connection(KeptTotal()), Connection(KeptTotal())
    if syn:
        for c in (slow, fast):
            c.segment("out", isn - 1, 0, SYN, b"")
    for d, seq, piece, flags in segs:
        ack = isn + order.randrange(len(data) + 1)
        want = slow.segment(d, seq, ack, flags, piece)
        start = fast.streams[d].next
        if fast.in_order(d, seq, ack, flags, piece):
            got = [(d, Chunk(start, piece))] if piece else []
        else:
            got = fast.segment(d, seq, ack, flags, piece)
        assert got == want
    assert slow.flush() == fast.flush()
    for d in ("out", "in"):
        a, b = slow.streams[d], fast.streams[d]
        assert [_state(getattr(a, k)) for k in Stream.__slots__] == [_state(getattr(b, k)) for k in Stream.__slots__]


def _state(value):
    """A stream attribute as comparable data (what is kept: its live entries)."""
    if isinstance(value, tcp._Kept):
        return value.offs[value.head:], value.datas[value.head:], value.size
    return value


def test_in_order_fast_path_takes_only_the_plain_next_segment():
    c = Connection()
    c.segment("out", 99, 0, SYN, b"")
    assert c.in_order("out", 100, 500, ACK | PSH, b"abc")            # also picks up the peer's origin
    assert c.streams["out"].next == 3 and c.streams["in"].base == 500
    assert not c.in_order("out", 110, 500, ACK, b"x")                # a gap: buffered by segment()
    assert c.segment("out", 110, 500, ACK, b"x") == []
    assert not c.in_order("out", 103, 500, ACK, b"d")                # something is buffered
    assert not c.in_order("in", 500, 103, ACK | FIN, b"z")           # FIN (and SYN, RST) take segment()
    assert not c.in_order("in", 500, 120, ACK, b"")                  # a pure ACK that may declare a hole
    assert c.in_order("out", 600, 1, ACK, b"")                       # any other pure ACK is taken
