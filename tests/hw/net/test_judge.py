"""The --block judge: answers a held request only once the session has analysed it, by its flow's
findings and by the allow-list's verdict on the flow as the analysis knows it."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

import hw.net.judge as judge_module
from hw.net.judge import Judge, flow_name
from sandbox.captures import open_capture
from sandbox.captures.writer import (
    LINKTYPE_LINUX_SLL2,
    PcapngWriter,
    SidedLink,
    TcpConversation,
    ip_packet,
    link_frame,
    tcp_segment,
    udp,
)
from sandbox.engine import Engine
from sandbox.model import ACK, URG, Finding
from sandbox.simulate import wire
from sandbox.simulate.traffic import INSTRUMENT, Bench

LIMS, LIMS_IP, OTHER_IP = "lims.lab.example", "198.51.100.10", "203.0.113.66"


def ask(sock: socket.socket, **q) -> None:
    sock.sendall(json.dumps(q).encode() + b"\n")


def answer(f) -> dict:
    return json.loads(f.readline())


def finding(kind: str, flow: str, **kw) -> Finding:
    return Finding(id=kind, severity="high", kind=kind, channel="net", flow=flow, destination="x", t_first=0,
                   t_last=0, **kw)


def held(judge: Judge) -> int:
    with judge.lock:
        return len(judge.held)


def fed(tmp_path: Path, flows: list[tuple[str, int, str]]) -> Engine:
    """An Engine fed a recording of TLS flows (address, source port, the server name each claims), the
    bench resolver having answered the LIMS's name with its address first."""
    pcap = tmp_path / "bench.pcapng"
    with PcapngWriter(pcap) as w:
        bench = Bench(w)
        bench.resolve(LIMS, LIMS_IP)
        for addr, sport, name in flows:
            conv = TcpConversation(w, (INSTRUMENT, sport), (addr, 443), t0=bench.t)
            conv.send(wire.client_hello(name, os.urandom(32), os.urandom(32)))
            conv.send(wire.tls_record(wire.TLS_APPDATA, os.urandom(300)))
            bench.t = conv.t
    engine = Engine([])
    for seg in open_capture(pcap):
        engine.feed(seg)
    return engine


def flush(judge: Judge, engine: Engine, findings: list[Finding], watermark: float) -> None:
    """A session's flush: the analysis asked for what changed up to ``watermark``, then the judge told."""
    engine.changed(watermark)
    judge.on_findings(findings, watermark, engine)


def question(op: str, qid: int, sport: int, addr: str = LIMS_IP, **q) -> dict:
    return {"op": op, "id": qid, "client": [INSTRUMENT, sport], "dst": [addr, 443], "t": 100.0, **q}


def served(judge: Judge, path: Path):
    judge.listen(path)
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(path))
    return s, s.makefile("rb")


def wait_held(judge: Judge, n: int) -> None:
    deadline = time.monotonic() + 30
    while held(judge) < n:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_request_is_judged_after_the_flush_that_follows_it_and_its_findings_say_blocked(tmp_path):
    engine = fed(tmp_path, [(LIMS_IP, 50000, LIMS), (LIMS_IP, 50002, LIMS)])
    judge = Judge([LIMS])
    s, f = served(judge, tmp_path / "j.sock")
    with s:
        ask(s, **question("request", 1, 50000))
        ask(s, **question("request", 2, 50002))
        wait_held(judge, 2)
        flush(judge, engine, [], 101.0)          # the flush they arrived before: not analysed yet
        flush(judge, engine, [], 99.0)           # not analysed that far yet
        assert held(judge) == 2
        leak = finding("run-bytes", flow_name([INSTRUMENT, 50000], [LIMS_IP, 443]) + " #2", samples=["S1"])
        flushed = [leak]
        flush(judge, engine, flushed, 101.0)     # analysed now
        answers = sorted((answer(f), answer(f)), key=lambda a: a["id"])
        assert answers[0]["allow"] is False and "carries run data" in answers[0]["reason"]
        assert answers[1]["allow"] is True
        assert leak.detail["blocked"].startswith("carries run data")
        ask(s, **question("connect", 3, 50004, sni="evil.example", host=LIMS_IP))
        assert answer(f) == {"id": 3, "allow": False, "reason": "unlisted destination evil.example"}
        ask(s, **question("connect", 4, 50004, sni="", host=LIMS_IP))
        assert answer(f)["allow"] is False
        # regular mode: the proxy connects where it was asked, whatever server name the instrument sends
        ask(s, **question("connect", 7, 50004, sni="api." + LIMS, host="evil.example"))
        assert answer(f) == {"id": 7, "allow": False, "reason": "unlisted destination evil.example"}
        # listed names: it waits for the analysis of what the flow sent (a CONNECT line, a server name)
        ask(s, **question("connect", 5, 50002, sni=LIMS, host=LIMS_IP, t=100.5))
        ask(s, **question("connect", 8, 50000, sni=LIMS, host=LIMS_IP, t=100.5))
        wait_held(judge, 2)
        flush(judge, engine, [], 101.0)          # the flush they arrived before
        flush(judge, engine, [], 101.0)
        answers = sorted((answer(f), answer(f)), key=lambda a: a["id"])
        assert answers[0] == {"id": 5, "allow": True, "reason": ""}
        assert answers[1]["id"] == 8 and answers[1]["reason"].startswith("carries run data")
        ask(s, **question("request", 6, 50002, t=200.0))
        wait_held(judge, 1)
        judge.close()                                  # the session ends: unjudged never passes
        assert answer(f) == {"id": 6, "allow": False, "reason": "the session ended before it was judged"}


def test_a_request_under_an_allowed_name_to_an_address_nobody_vouched_for_is_refused(tmp_path):
    """A request is judged by its flow as the analysis knows it: the LIMS's name at another address
    is refused, whatever the connect was told."""
    engine = fed(tmp_path, [(LIMS_IP, 50000, LIMS), (OTHER_IP, 50002, LIMS)])
    judge = Judge([LIMS])
    s, f = served(judge, tmp_path / "j.sock")
    with s:
        ask(s, **question("request", 2, 50000))
        ask(s, **question("request", 3, 50002, addr=OTHER_IP))
        ask(s, **question("message", 4, 50009))          # a connection the analysis never saw
        wait_held(judge, 3)
        flush(judge, engine, [], 0.0)
        other = finding("destination", flow_name([INSTRUMENT, 50002], [OTHER_IP, 443]))
        flush(judge, engine, [other], 101.0)
        answers = {a["id"]: a for a in (answer(f), answer(f), answer(f))}
    assert answers[2] == {"id": 2, "allow": True, "reason": ""}
    assert answers[3]["allow"] is False
    assert answers[3]["reason"] == f"nobody the rig trusts vouched for {OTHER_IP} as {LIMS}"
    assert answers[4] == {"id": 4, "allow": False, "reason": "the rig has no record of its connection"}
    assert other.detail["blocked"] == answers[3]["reason"]


def test_a_held_packet_is_answered_through_its_reply_and_an_unseen_flow_never_passes(tmp_path):
    """The kernel queue asks in process (``Judge.ask``): the verdict goes to its reply.  A packet of a
    flow the analysis never had is refused even when no allow-list is given: the recording must
    have had it, so the rig would pass what it never examined."""
    engine = fed(tmp_path, [(LIMS_IP, 50000, LIMS)])
    judge = Judge([])
    verdicts: dict[int, tuple[bool, str]] = {}
    for qid, sport in ((1, 50000), (2, 50009)):
        judge.ask(question("message", qid, sport, raw=True, t=90.0),
                  lambda allow, reason, qid=qid: verdicts.__setitem__(qid, (allow, reason)))
    flush(judge, engine, [], 0.0)
    flush(judge, engine, [], 101.0)
    assert verdicts == {1: (True, ""), 2: (False, "the rig has no record of its connection")}


def test_a_held_packet_waits_until_the_recording_has_had_it_and_a_lost_one_never_passes(tmp_path, monkeypatch):
    """A packet the kernel holds is only in the raw recording, which a loaded machine may write later
    than the watermark assumes: the judge waits until the flow has had a packet stamped as late as it
    (before, a flow's earlier, quiet state passed it).  One the analysis never gets is refused."""
    import hw.net.judge as judge_module

    pcap = tmp_path / "udp.pcapng"
    with PcapngWriter(pcap) as w:
        udp(w, (INSTRUMENT, 40000), (LIMS_IP, 9999), b"status=idle", 100.0)
        udp(w, (INSTRUMENT, 40000), (LIMS_IP, 9999), b"status=idle", 101.0)
    engine = Engine([])
    segments = list(open_capture(pcap))
    engine.feed(segments[0])
    engine.tick(100.5)
    judge = Judge([])
    verdicts: list[tuple[bool, str]] = []
    q = {"op": "message", "client": [INSTRUMENT, 40000], "dst": [LIMS_IP, 9999], "transport": "udp", "raw": True,
         "t": 101.0005, "recorded": 101.0}
    judge.ask(q, lambda allow, reason: verdicts.append((allow, reason)))
    flush(judge, engine, [], 0.0)
    flush(judge, engine, [], 103.0)       # past it, the flow quiet, but the recording had not given it yet
    assert verdicts == []
    engine.feed(segments[1])
    engine.tick(101.5)
    flush(judge, engine, [], 103.0)
    assert verdicts == [(True, "")]
    monkeypatch.setattr(judge_module, "HOLD_LIMIT_S", 0.0)
    judge.ask({**q, "recorded": 105.0}, lambda allow, reason: verdicts.append((allow, reason)))
    flush(judge, engine, [], 110.0)
    assert verdicts[-1] == (False, judge_module.UNSEEN)


def test_a_plain_message_waits_until_its_stream_is_in_and_a_stream_with_a_hole_is_refused(tmp_path):
    """Plain TCP in transparent mode reaches the analysis only through the raw recording: a message
    waits until its flow's stream has as many bytes as the instrument had sent (the addon counts
    them), not only the writer delay; a stream the recording missed part of does not pass."""
    pcap = tmp_path / "plain.pcapng"
    first, second = b"status=idle;" * 10, b"run=none;" * 10
    with PcapngWriter(pcap) as w:
        conv = TcpConversation(w, (INSTRUMENT, 50001), (OTHER_IP, 9000), t0=100.0)
        conv.send(first)
        conv.send(second)
        holed = TcpConversation(w, (INSTRUMENT, 50003), (OTHER_IP, 9000), t0=100.0)
        holed.send(first)
        holed.send(b"x" * 500, write=False)         # 500 bytes the recording never had
        holed.send(second)
        holed.close()
    segments = list(open_capture(pcap))
    cut = max(i for i, seg in enumerate(segments) if seg.sport == 50001 and seg.data == first)
    engine = Engine([])
    for seg in segments[:cut + 1]:
        engine.feed(seg)
    judge = Judge([])
    verdicts: dict[int, tuple[bool, str]] = {}
    for qid, sport, sent in ((1, 50001, len(first) + len(second)), (2, 50003, len(first) + 500 + len(second))):
        judge.ask({"op": "message", "client": [INSTRUMENT, sport], "dst": [OTHER_IP, 9000], "transport": "tcp",
                   "raw": True, "t": 100.0, "wire": sent}, lambda allow, reason, qid=qid: verdicts.__setitem__(
                       qid, (allow, reason)))
    flush(judge, engine, [], 0.0)
    engine.tick(102.0)
    flush(judge, engine, [], 103.0)        # the watermark passed, the recording had not given it all
    assert verdicts == {}
    for seg in segments[cut + 1:]:
        engine.feed(seg)
    engine.tick(110.0)
    flush(judge, engine, [], 111.0)
    assert verdicts[1] == (True, "")
    assert verdicts[2] == (False, judge_module.MISSED)


def test_a_stream_the_instrument_closed_counts_its_fin_as_the_kernel_does(tmp_path):
    """A kernel counts a FIN among the bytes it took in (TCP_INFO): the raw TLS scenario sent its
    last bytes with its FIN, and its message waited one byte short until refused at 60 s."""
    pcap = tmp_path / "closed.pcapng"
    with PcapngWriter(pcap) as w:
        conv = TcpConversation(w, (INSTRUMENT, 50001), (OTHER_IP, 9000), t0=100.0)
        conv.send(b"status=idle;" * 10)
        conv.close()
    engine = Engine([])
    for seg in open_capture(pcap):
        engine.feed(seg)
    judge = Judge([])
    verdicts: list[tuple[bool, str]] = []
    for taken_in in (120 + 1, 120 + 2):      # the bytes and the FIN; one more than the stream holds
        judge.ask({"op": "request", "client": [INSTRUMENT, 50001], "dst": [OTHER_IP, 9000], "t": 100.0,
                   "wire": taken_in}, lambda allow, reason: verdicts.append((allow, reason)))
    flush(judge, engine, [], 0.0)
    flush(judge, engine, [], 103.0)
    assert verdicts == [(True, "")]


def message_verdicts(pcap: Path, size: int, engine: Engine) -> list[tuple[bool, str]]:
    """The judge's answers on the raw TCP message of ``size`` bytes the instrument sent at 100.0 s from
    its port 50001 to OTHER_IP:9000, once ``engine`` had the whole of ``pcap``."""
    for seg in open_capture(pcap):
        engine.feed(seg)
    judge = Judge([])
    verdicts: list[tuple[bool, str]] = []
    judge.ask({"op": "message", "client": [INSTRUMENT, 50001], "dst": [OTHER_IP, 9000], "transport": "tcp",
               "raw": True, "t": 100.0, "wire": size}, lambda allow, reason: verdicts.append((allow, reason)))
    flush(judge, engine, [], 0.0)
    engine.tick(102.0)
    flush(judge, engine, [], 103.0)
    return verdicts


@pytest.mark.parametrize("trick", ["twice", "urgent"])
def test_a_stream_whose_receiver_may_read_other_bytes_is_refused(tmp_path, trick):
    """What its receiver read cannot be told: the junk the recording had first or the bytes after; the
    stream with or without the bytes marked urgent."""
    pcap = tmp_path / "twice.pcapng"
    line = b"status=idle;" * 10
    with PcapngWriter(pcap) as w:
        conv = TcpConversation(w, (INSTRUMENT, 50001), (OTHER_IP, 9000), t0=100.0, acks=False)
        conv.handshake()
        if trick == "twice":
            w.write(conv.segment_at(b"x" * len(line), conv.seq[True]), conv._tick())
            conv.send(line)
        else:
            segment = tcp_segment(INSTRUMENT, OTHER_IP, 50001, 9000, conv.seq[True], conv.seq[False], ACK | URG, line,
                                  urgent=5)
            w.write(link_frame(w.linktype, ip_packet(INSTRUMENT, OTHER_IP, 6, segment)), conv._tick())
    assert message_verdicts(pcap, len(line), Engine([])) == [
        (False, judge_module.RESENT if trick == "twice" else judge_module.URGENT)]


def test_a_stream_whose_far_end_the_instrument_forged_is_refused(tmp_path):
    """An acknowledgement in the server's name that arrived from the instrument's side (the rig's
    recording of its link says so): the rig believes nothing of it, and passes nothing of the flow."""
    pcap = tmp_path / "forged.pcapng"
    line = b"status=idle;" * 10
    with PcapngWriter(pcap, linktype=LINKTYPE_LINUX_SLL2) as w:
        link = SidedLink(w, INSTRUMENT)
        conv = TcpConversation(link, (INSTRUMENT, 50001), (OTHER_IP, 9000), t0=100.0)
        conv.send(line)
        link.forging = True
        ack = tcp_segment(OTHER_IP, INSTRUMENT, 9000, 50001, conv.seq[False], conv.seq[True] + 1000, ACK, b"")
        link.write(link_frame(link.linktype, ip_packet(OTHER_IP, INSTRUMENT, 6, ack)), conv._tick())
    engine = Engine([], instrument=["10.20.0.0/24", "link:1"])
    assert message_verdicts(pcap, len(line), engine) == [(False, judge_module.FORGED)]
    assert engine.dissector.current(flow_name([INSTRUMENT, 50001], [OTHER_IP, 9000])).forged_in == 1   # the ACK alone


def test_a_request_the_recording_gave_late_waits_for_findings_asked_for_after_it(tmp_path):
    """A recorder that wrote late hands the analysis bytes older than the watermark: the flow has them,
    but the correlator's answer in hand was asked for before they were fed.  The request waits for
    an answer asked after (before, it passed on findings that had not seen it)."""
    pcap = tmp_path / "plain.pcapng"
    status, upload = b"POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", b"PUT /up HTTP/1.1\r\n"
    with PcapngWriter(pcap) as w:
        conv = TcpConversation(w, (INSTRUMENT, 50001), (OTHER_IP, 80), t0=100.0)
        conv.send(status)
        conv.send(upload + b"Host: x\r\nContent-Length: 4\r\n\r\nACGT")
    segments = list(open_capture(pcap))
    cut = max(i for i, seg in enumerate(segments) if seg.data == status)
    engine = Engine([])
    for seg in segments[:cut + 1]:
        engine.feed(seg)
    judge = Judge([])
    verdicts: list[tuple[bool, str]] = []
    judge.ask({"op": "request", "client": [INSTRUMENT, 50001], "dst": [OTHER_IP, 80], "t": 100.0,
               "wire": sum(len(seg.data) for seg in segments)}, lambda allow, reason: verdicts.append((allow, reason)))
    flush(judge, engine, [], 0.0)
    flush(judge, engine, [], 103.0)             # the watermark passed; the recording had not given it yet
    for seg in segments[cut + 1:]:              # now it has: fed after the analysis was last asked
        engine.feed(seg)
    judge.on_findings([], 103.0, engine)        # that answer came: it cannot cover them
    assert verdicts == []
    flush(judge, engine, [], 103.0)             # asked after they were fed: the flow is judged now
    assert verdicts == [(True, "")]


def test_a_connect_to_an_address_the_instrument_chose_waits_for_the_dns_answers(tmp_path):
    """Transparent and WireGuard mode: the instrument picks the address, so a connect not listed by
    address waits for the session, and passes only to an address vouched for an allowed name."""
    engine = fed(tmp_path, [])
    judge = Judge([LIMS])
    s, f = served(judge, tmp_path / "j.sock")
    with s:
        for qid, addr, sni in ((1, LIMS_IP, LIMS), (2, OTHER_IP, LIMS), (3, LIMS_IP, ""), (4, OTHER_IP, "")):
            ask(s, **question("connect", qid, 50000 + qid, addr=addr, sni=sni, host=addr, mode="transparent"))
        ask(s, **question("connect", 5, 50005, addr=OTHER_IP, sni="evil.example", host=OTHER_IP, mode="wireguard"))
        assert answer(f) == {"id": 5, "allow": False, "reason": "unlisted destination evil.example"}   # at once
        wait_held(judge, 4)
        flush(judge, engine, [], 0.0)
        flush(judge, engine, [], 101.0)
        answers = {a["id"]: a for a in (answer(f), answer(f), answer(f), answer(f))}
    assert answers[1]["allow"] is True and answers[3]["allow"] is True
    assert answers[2]["reason"] == f"nobody the rig trusts vouched for {OTHER_IP} as {LIMS}"
    assert answers[4]["reason"] == f"unlisted destination {OTHER_IP}"


def test_a_blocked_reason_quoting_the_instrument_s_name_reaches_findings_redacted(tmp_path):
    read = "ACGTTGCAAGGCTTACGATCGGATCCATGCAAGTCCGATAGCTTGACCATGGATCCAGTTACGAT"
    engine = fed(tmp_path, [])
    judge = Judge([LIMS])
    s, f = served(judge, tmp_path / "j.sock")
    with s:
        ask(s, **question("connect", 1, 50002, addr=OTHER_IP, sni=f"{read}.evil.example", host=OTHER_IP))
        assert answer(f)["allow"] is False
    refused = finding("sequence", flow_name([INSTRUMENT, 50002], [OTHER_IP, 443]))
    flush(judge, engine, [refused], 101.0)
    shown = refused.detail["blocked"]
    assert shown.startswith("unlisted destination ") and shown.endswith(".evil.example")
    assert read[:20] not in shown


def test_dns_to_the_bench_resolver_is_not_held_an_unlisted_public_one_is_refused(tmp_path):
    judge = Judge([LIMS])
    s, f = served(judge, tmp_path / "j.sock")
    with s:
        ask(s, **question("connect", 1, 50001, addr="10.0.0.53", host="10.0.0.53", mode="wireguard",
                          transport="udp", dst=["10.0.0.53", 53]))
        assert answer(f) == {"id": 1, "allow": True, "reason": ""}
        ask(s, **question("connect", 2, 50002, addr="9.9.9.9", host="9.9.9.9", mode="wireguard", transport="udp",
                          dst=["9.9.9.9", 53]))
        wait_held(judge, 1)       # a resolver off the bench: an address like any other, vouched or not
        engine = fed(tmp_path, [])
        flush(judge, engine, [], 0.0)
        flush(judge, engine, [], 101.0)
        assert answer(f) == {"id": 2, "allow": False, "reason": "unlisted destination 9.9.9.9"}
    assert f"udp {INSTRUMENT}:* > 9.9.9.9:53" in judge.blocked


def test_a_raw_message_waits_until_the_analysis_has_had_what_its_parser_held_back(tmp_path):
    """A raw stream's partial chunk stays with its parser until more comes or the flow goes quiet: a
    held raw message is judged once its flow has settled, not as soon as the watermark passes it
    (before, a small datagram of reads passed before the analysis had seen it)."""
    pcap = tmp_path / "raw.pcapng"
    with PcapngWriter(pcap) as w:
        conv = TcpConversation(w, (INSTRUMENT, 50001), (OTHER_IP, 9443), t0=100.0)
        conv.send(b"status=idle;run=none\n")
    engine = Engine([])
    for seg in open_capture(pcap):
        engine.feed(seg)
    sent = conv.t
    judge = Judge([OTHER_IP])
    s, f = served(judge, tmp_path / "j.sock")
    with s:
        ask(s, **question("message", 1, 50001, addr=OTHER_IP, dst=[OTHER_IP, 9443], raw=True, t=sent))
        wait_held(judge, 1)
        flush(judge, engine, [], sent)
        engine.tick(sent + 0.1)
        flush(judge, engine, [], sent + 0.1)     # past it, but its bytes are still with the parser
        assert held(judge) == 1 and engine.settled(flow_name([INSTRUMENT, 50001], [OTHER_IP, 9443])) is None
        engine.tick(sent + 0.5)                       # quiet: the idle flush hands them over
        flush(judge, engine, [], sent + 0.5)
        assert answer(f) == {"id": 1, "allow": True, "reason": ""}


def test_findings_that_count_their_flows_are_judged_like_any_other(tmp_path):
    """An opaque-volume finding and the encrypted flows past the 16th to one destination count their
    flows under ``detail["flows"]``, where a cross-flow finding lists them: the judge took every one
    for a list, and the 17th TLS connection to one server ended a --block rig with a TypeError."""
    engine = fed(tmp_path, [])
    judge = Judge([LIMS])
    judge.ask({"op": "connect", "client": [INSTRUMENT, 50002], "dst": [OTHER_IP, 443], "sni": "evil.example",
               "t": 100.0}, lambda allow, reason: None)
    refused = flow_name([INSTRUMENT, 50002], [OTHER_IP, 443])
    opaque = finding("opaque-volume", refused, detail={"flows": 40})
    rest = finding("encrypted", "", detail={"flows": 84})
    spread = finding("destination", "", detail={"flows": {refused: 500}})
    flush(judge, engine, [opaque, rest, spread], 101.0)
    assert opaque.detail["blocked"] == spread.detail["blocked"] == "unlisted destination evil.example"
    assert "blocked" not in rest.detail


def test_a_flood_of_refused_connections_keeps_the_judge_bounded(tmp_path, monkeypatch):
    """A flow's verdict is kept for the MAX_FLOWS flows touched last; a flush marks only what changed."""
    import hw.net.judge as judge_module

    monkeypatch.setattr(judge_module, "MAX_FLOWS", 100)
    engine = fed(tmp_path, [])
    judge = Judge([LIMS])
    s, f = served(judge, tmp_path / "j.sock")
    with s:
        for n in range(500):
            ask(s, **question("connect", n, 20000 + n, addr=OTHER_IP, sni="evil.example", host=OTHER_IP))
        assert all(answer(f)["allow"] is False for _ in range(500))
    last, first = (finding("destination", flow_name([INSTRUMENT, 20000 + n], [OTHER_IP, 443])) for n in (499, 0))
    flushed = [last, first]
    flush(judge, engine, flushed, 101.0)
    assert len(judge.blocked) == len(judge.shown) == 100
    assert last.detail["blocked"] == "unlisted destination evil.example"
    assert "blocked" not in first.detail          # forgotten: its finding cannot say it any more
    again: list[Finding] = []
    flush(judge, engine, again, 102.0)
    assert again == []                            # nothing changed: nothing written again
    assert judge.findings and len(judge.findings) <= 100


def test_flow_names_follow_the_dissector():
    assert flow_name(["::1", 5], ["::2", 443]) == "tcp [::1]:5 > [::2]:443"
    assert flow_name(["10.0.0.5", 5], ["10.0.0.1", 53], "udp") == "udp 10.0.0.5:* > 10.0.0.1:53"
    assert flow_name(["10.0.0.5", 5], ["10.0.0.1", 9999], "udp") == "udp 10.0.0.5:5 > 10.0.0.1:9999"
