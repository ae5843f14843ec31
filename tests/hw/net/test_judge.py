"""The --block judge: answers a held request only once the session has analysed it."""

from __future__ import annotations

import json
import socket
import time

from hw.net.judge import Judge, flow_name
from sandbox.model import Finding

CLIENT, DST = ["10.0.0.2", 50000], ["10.0.0.9", 443]


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


def test_a_request_is_judged_after_the_flush_that_follows_it_and_its_findings_say_blocked(tmp_path):
    judge = Judge(["cloud.example"])
    judge.listen(tmp_path / "j.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(tmp_path / "j.sock"))
        f = s.makefile("rb")
        ask(s, op="request", id=1, client=CLIENT, dst=DST, host="cloud.example", t=100.0)
        ask(s, op="request", id=2, client=["10.0.0.2", 50002], dst=DST, host="cloud.example", t=100.0)
        deadline = time.monotonic() + 30
        while held(judge) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        judge.on_findings([], 99.0)                   # not analysed that far yet
        assert held(judge) == 2
        leak = finding("run-bytes", flow_name(CLIENT, DST) + " #2", samples=["S1"])
        flushed = [leak]
        judge.on_findings(flushed, 101.0)     # the first flush after they arrived: analysed now
        answers = sorted((answer(f), answer(f)), key=lambda a: a["id"])
        assert answers[0]["allow"] is False and "carries run data" in answers[0]["reason"]
        assert answers[1]["allow"] is True
        assert leak.detail["blocked"].startswith("carries run data")
        ask(s, op="connect", id=3, client=CLIENT, dst=DST, sni="evil.example", host="10.0.0.9", t=1.0)
        assert answer(f) == {"id": 3, "allow": False, "reason": "unlisted destination evil.example"}
        ask(s, op="connect", id=4, client=CLIENT, dst=DST, sni="", host="10.0.0.9", t=1.0)
        assert answer(f)["allow"] is False
        ask(s, op="connect", id=5, client=CLIENT, dst=DST, sni="api.cloud.example", host="10.0.0.9", t=1.0)
        assert answer(f)["allow"] is True
        # regular mode: the proxy connects where it was asked, whatever server name the instrument sends
        ask(s, op="connect", id=7, client=CLIENT, dst=DST, sni="api.cloud.example", host="evil.example", t=1.0)
        assert answer(f) == {"id": 7, "allow": False, "reason": "unlisted destination evil.example"}
        ask(s, op="request", id=6, client=CLIENT, dst=DST, host="cloud.example", t=200.0)
        while held(judge) < 1:
            time.sleep(0.01)
        judge.close()                                  # the session ends: unjudged never passes
        assert answer(f) == {"id": 6, "allow": False, "reason": "the session ended before it was judged"}


def test_flow_names_follow_the_dissector():
    assert flow_name(["::1", 5], ["::2", 443]) == "tcp [::1]:5 > [::2]:443"
