"""The worker-process analyzer gives exactly the in-process results, and fails loudly; a decoding
limit on outbound data is a finding and a not_examined row, in either."""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

import pytest

from sandbox.analyzer import (
    MAX_UNEXAMINED_ROWS,
    NOTHING_ANSWERED,
    OTHER_FLOWS,
    Analyzer,
    AnalyzerProcess,
    Mark,
    Unexamined,
)
from sandbox.bytes_ring import RING_MIN
from sandbox.decode.limits import DECODE_LIMIT, LimitHit
from sandbox.index import build_index
from sandbox.model import Observation, Payload
from sandbox.replay import replay
from sandbox.simulate import ensure_demo
from sandbox.simulate.bombs import gzip_bomb

REPO = Path(__file__).resolve().parents[1]


def _essence(report: dict) -> list[tuple]:
    return [(f["id"], f["severity"], f["kind"], f["bytes_out"], f["bytes_matched"], f["samples"],
             [(m["path"], m["bytes_matched"]) for m in f["files"]], f["chain"]) for f in report["findings"]]


def test_two_processes_find_what_one_finds(tmp_path):
    run_dir, capture = ensure_demo(REPO / "captures" / "demo")
    one = replay([capture], [run_dir], cache_dir=tmp_path, jobs=1, allow=["lims.lab.example"])
    two = replay([capture], [run_dir], cache_dir=tmp_path, jobs=2, allow=["lims.lab.example"])
    assert one.report["verdict"] == "leak"
    assert _essence(one.report) == _essence(two.report)
    assert one.report["notes"] == two.report["notes"]


def test_a_busy_worker_answers_later_saying_what_its_answer_covers(tmp_path):
    """A live session does not wait for a worker matching a large payload: changed() asks, and the
    answer comes with a later call, with the mark of the call it answers (--block judges by it)."""
    import gzip

    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    fastq = gzip.decompress(next(Path(run_dir).rglob("*_R1_001.fastq.gz")).read_bytes())[:300_000]
    body = os.urandom(48 << 20) + fastq          # the run data comes last, after 48 MB to get through
    analyzer = AnalyzerProcess([index])
    try:
        analyzer.payload(Payload(body, ("tcp", "http/1.1 PUT /x"), "tcp 10.0.0.2:5000 > 203.0.113.9:80", "out",
                                 1.0, 2.0, destination="upload.example", stream_offset=0))
        assert analyzer.changed(Mark(10.0), wait=0) == ([], NOTHING_ANSWERED)     # asked; nothing answered yet
        assert analyzer.changed(Mark(11.0), wait=0) == ([], NOTHING_ANSWERED)     # still the same question
        deadline = time.monotonic() + 120
        while not analyzer.answered() and time.monotonic() < deadline:   # what a live session polls
            time.sleep(0.01)
        findings, upto = analyzer.changed(Mark(12.0), wait=0)       # collected, no new question
        assert not analyzer.answered()
        assert upto == Mark(10.0) and "run-bytes" in {f.kind for f in findings}
        assert analyzer.changed(Mark(13.0)) == ([], Mark(13.0))           # a new question, answered at once
        assert analyzer.changed(Mark(14.0), wait=0)[0] == []
        final = analyzer.finish([])                                 # an unanswered question is no obstacle
        assert "run-bytes" in {f.kind for f in final}
    finally:
        analyzer.close()
    assert Analyzer([index]).changed(Mark(5.0)) == ([], Mark(5.0)) and not Analyzer([index]).answered()


def test_what_was_sent_while_a_question_waited_is_asked_about_when_its_answer_comes(tmp_path):
    """A live session asks every quarter second; a large piece handed over while the worker answers
    an earlier question is asked about as soon as that answer comes, not a quarter second later
    (small work waits for the next tick: a store written at every answer would cost more)."""
    import gzip

    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    fastq = gzip.decompress(next(Path(run_dir).rglob("*_R1_001.fastq.gz")).read_bytes())[:300_000]
    flow = "tcp 10.0.0.2:5000 > 203.0.113.9:80"
    analyzer = AnalyzerProcess([index])

    def answer() -> tuple[list, Mark]:
        deadline = time.monotonic() + 120
        while not analyzer.answered() and time.monotonic() < deadline:   # what a live session polls
            time.sleep(0.01)
        return analyzer.changed(Mark(math.inf), wait=0)

    try:
        analyzer.payload(Payload(os.urandom(16 << 20), ("tcp", "http/1.1 PUT /a"), flow, "out", 1.0, 2.0,
                                 destination="upload.example", stream_offset=0))
        assert analyzer.changed(Mark(1.0), wait=0) == ([], NOTHING_ANSWERED)
        analyzer.payload(Payload(os.urandom(RING_MIN) + fastq, ("tcp", "http/1.1 PUT /b"), flow, "out", 3.0, 4.0,
                                 destination="upload.example", stream_offset=16 << 20))
        findings, upto = answer()                   # the first question's answer: the random bytes only
        assert upto == Mark(1.0) and not findings
        findings, upto = answer()                   # the leak: asked about when that answer came
        assert upto == Mark(math.inf) and "run-bytes" in {f.kind for f in findings}
        time.sleep(0.2)
        assert not analyzer.answered()              # nothing sent since: nothing more asked
        analyzer.payload(Payload(os.urandom(16 << 20), ("tcp", "http/1.1 PUT /c"), flow, "out", 5.0, 6.0,
                                 destination="upload.example", stream_offset=0))
        analyzer.changed(Mark(6.0), wait=0)
        analyzer.payload(Payload(b"small" * 100, ("tcp", "http/1.1 PUT /d"), flow, "out", 7.0, 8.0,
                                 destination="upload.example", stream_offset=0))
        assert answer()[1] == Mark(6.0)
        time.sleep(0.2)
        assert not analyzer.answered()              # small work waits for the caller's next question
    finally:
        analyzer.close()


def test_payloads_the_reading_side_unfolds_give_what_the_worker_would(tmp_path, monkeypatch):
    """A worker that fell behind (its queue full) gets payloads unfolded by the reading side: the
    findings, notes, not_examined rows and counts are those of one process."""
    import base64
    import gzip

    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    fastq = gzip.decompress(next(Path(run_dir).rglob("*_R1_001.fastq.gz")).read_bytes())[:300_000]
    flows = [f"tcp 10.0.0.2:{5000 + n} > 203.0.113.9:80" for n in range(5)]
    bodies = [fastq, gzip.compress(fastq), base64.b64encode(fastq[:60_000]), os.urandom(200_000),
              gzip_bomb(256 << 20)]
    payloads = [Payload(body, ("tcp", "http/1.1 POST /x"), flow, "out", float(n), float(n) + 0.5,
                        destination="upload.example", stream_offset=0)
                for n, (flow, body) in enumerate(zip(flows, bodies, strict=True))]
    one = Analyzer([index])
    two = AnalyzerProcess([index])
    monkeypatch.setattr(two._requests, "full", lambda: True)  # every payload unfolded here
    try:
        for p in payloads:
            one.payload(p)
            two.payload(p)
        assert all(type(item).__name__ == "Unfolded" for item in two._batch)
        want, got = one.finish([]), two.finish([])
    finally:
        two.close()
    assert sum(f.kind in ("run-bytes", "sequence") for f in want) >= 3 and any(f.kind == DECODE_LIMIT for f in want)
    assert got == want
    assert (two.notes, two.payloads, two.views, two.not_examined) == (one.notes, one.payloads, one.views,
                                                                       one.not_examined)


def test_a_reading_side_whose_worker_is_behind_does_not_wait_to_send_flows_to_judge(tmp_path, monkeypatch):
    """Flows to judge go in the batch, in order with the payloads: with the worker's queue full, the
    reading side goes on unfolding (it waited for room at every flow-table sweep, idle while the worker
    was the bottleneck); the verdicts are those of one process."""
    from sandbox.model import FlowInfo

    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    fastq_gz = next(Path(run_dir).rglob("*_R1_001.fastq.gz")).read_bytes()[:200_000]
    flow = "tcp 10.0.0.2:5000 > 203.0.113.9:80"
    info = FlowInfo(flow=flow, channel="net", transport="tcp", src="10.0.0.2", sport=5000, dst="203.0.113.9",
                    dport=80, app="http", destination="upload.example", t_first=0.0, t_last=1.0, packets=3,
                    bytes_out=len(fastq_gz))
    payload = Payload(fastq_gz, ("tcp", "http/1.1 POST /x"), flow, "out", 0.0, 0.5,
                      destination="upload.example", stream_offset=0)
    one = Analyzer([index])
    two = AnalyzerProcess([index])
    real_put = two._requests.put

    def no_room(*args, **kwargs):
        raise AssertionError("waited for room in the worker's queue")

    monkeypatch.setattr(two._requests, "full", lambda: True)
    monkeypatch.setattr(two._requests, "put", no_room)
    try:
        for analyzer in (one, two):
            analyzer.payload(payload)
            analyzer.flows([info])
        assert [type(item).__name__ for item in two._batch] == ["Unfolded", "FlowsChanged"]
        monkeypatch.setattr(two._requests, "put", real_put)
        want, got = one.finish([info]), two.finish([info])
    finally:
        two.close()
    assert want and got == want


def test_large_payloads_cross_in_the_shared_ring_and_are_matched_as_in_one_process(tmp_path):
    """Payloads of a MB and more go through the shared ring (``sandbox.bytes_ring``), several held at
    once, the ring's wrap included; the findings are those of one process."""
    import gzip

    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    fastq = gzip.decompress(next(Path(run_dir).rglob("*_R1_001.fastq.gz")).read_bytes())[:300_000]
    payloads = [Payload(os.urandom(size) + fastq + os.urandom(1000), ("tcp", "http/1.1 PUT /x"),
                        f"tcp 10.0.0.2:{5000 + n} > 203.0.113.9:80", "out", float(n), float(n) + 0.5,
                        destination="upload.example", stream_offset=0)
                for n, size in enumerate([RING_MIN, 40 << 20, 70 << 20, 3 << 20, 50 << 20])]
    one, two = Analyzer([index]), AnalyzerProcess([index])
    try:
        for p in payloads:
            one.payload(p)
            two.payload(p)
            two.changed()     # the worker has taken it: the next one finds the room it left
        assert two._ring._head > sum(len(p.data) for p in payloads)      # all went by the ring, past its wrap
        want, got = one.finish([]), two.finish([])
    finally:
        two.close()
    assert sum(f.kind == "run-bytes" for f in want) == len(payloads)
    assert got == want


def test_worker_death_is_an_error_not_a_clean_verdict(tmp_path):
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    analyzer = AnalyzerProcess([index])
    try:
        os.kill(analyzer._proc.pid, signal.SIGKILL)
        analyzer._proc.join(5)
        with pytest.raises(RuntimeError, match="analyzer worker"):
            analyzer.payload(Payload(b"x" * (8 << 20), ("tcp",), "tcp a:1 > b:2", "out", 0.0, 0.0))
            analyzer.finish([])
    finally:
        analyzer.close()


def _bomb_payload(flow: str = "tcp 10.0.0.2:5000 > 203.0.113.9:80", direction: str = "out") -> Payload:
    return Payload(gzip_bomb(256 << 20), ("tcp", "http/1.1 POST /blob"), flow, direction, 1.0, 2.0,
                   destination="upload.example", stream_offset=0)


@pytest.mark.parametrize("worker", [False, True])
def test_a_decoding_limit_on_outbound_data_is_a_finding_and_not_examined(tmp_path, worker):
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    analyzer = AnalyzerProcess([index]) if worker else Analyzer([index])
    try:
        analyzer.payload(_bomb_payload())
        analyzer.payload(_bomb_payload(direction="in"))  # inbound is never decoded: no finding
        findings = analyzer.finish([])
    finally:
        if worker:
            analyzer.close()
    (finding,) = [f for f in findings if f.kind == DECODE_LIMIT]
    assert finding.severity == "medium" and finding.chain == ["tcp", "http/1.1 POST /blob"]
    assert finding.detail["limit"] == "expansion ratio 100x" and finding.detail["decoder"] == "gzip"
    assert 0 < finding.detail["bytes_not_examined"] < finding.bytes_out == len(_bomb_payload().data)
    (row,) = analyzer.not_examined
    assert row["where"] == "tcp 10.0.0.2:5000 > 203.0.113.9:80" and row["packets"] == 0
    assert row["what"] == "decoding limit: expansion ratio 100x reached in gzip at http/1.1 POST /blob"
    assert row["bytes"] == finding.detail["bytes_not_examined"]


def test_protocol_limit_observations_are_not_examined_too(tmp_path):
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    analyzer = Analyzer([build_index(run_dir, cache_dir=tmp_path)])
    hit = LimitHit("expansion ratio 100x", "content-encoding:gzip", (), 1234)
    obs = Observation(DECODE_LIMIT, "medium", "tcp a:1 > b:2", "net", "b", 1.0, 2.0, 1234,
                      ("tcp", "http/1.1 POST /x"), {**hit.detail(), "where": "x"})
    analyzer.observe(obs)
    analyzer.observe(obs)
    assert analyzer.not_examined == [{"where": "tcp a:1 > b:2", "what": "decoding limit: x", "packets": 0,
                                      "bytes": 2468}]
    (finding,) = analyzer.finish([])
    assert finding.detail["bytes_not_examined"] == 2468  # summed over the flow's hits


def test_not_examined_rows_are_bounded():
    unexamined = Unexamined()
    for i in range(MAX_UNEXAMINED_ROWS + 100):
        unexamined.add(Observation(DECODE_LIMIT, "medium", f"flow {i}", "net", "", 0.0, 0.0,
                                   detail={"limit": "depth 64", "decoder": "gzip", "bytes_not_examined": 1}))
    rows = unexamined.rows()
    assert len(rows) == MAX_UNEXAMINED_ROWS + 1
    assert rows[-1] == {"where": OTHER_FLOWS, "what": "decoding limits", "packets": 0, "bytes": 100}


def test_the_worker_reports_not_examined_as_it_goes(tmp_path):
    """A live session asks changed() every tick: not_examined follows without waiting for finish()."""
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    analyzer = AnalyzerProcess([build_index(run_dir, cache_dir=tmp_path)])
    try:
        assert analyzer.changed()[0] == [] and analyzer.not_examined == []
        analyzer.payload(_bomb_payload())
        assert [f.kind for f in analyzer.changed()[0]] == [DECODE_LIMIT]
        assert [row["where"] for row in analyzer.not_examined] == [_bomb_payload().flow]
        analyzer.finish([])
    finally:
        analyzer.close()


_MMAPPED_BY_A_BUFFER = """
import ctypes, sys
from sandbox.analyzer import reuse_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "reuse":
    reuse_freed_memory()
before = libc.mallinfo2().hblkhd
piece = bytearray(64 << 20)
print(libc.mallinfo2().hblkhd - before)
"""


def test_body_sized_buffers_come_from_the_heap_glibc_keeps(tmp_path):
    """A 64 MB buffer (a body piece, its pickle, its lower-cased copy) is served from the heap once
    the analysis asks glibc to reuse freed memory, not from a fresh mmap() each time."""
    import subprocess
    import sys

    def mmapped(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _MMAPPED_BY_A_BUFFER, mode], cwd=REPO, capture_output=True,
                             text=True, check=True)
        return int(out.stdout)

    assert mmapped("default") >= 64 << 20
    assert mmapped("reuse") == 0


def test_a_killed_session_takes_its_worker_with_it_at_once(tmp_path):
    """The worker holds what it inherited (a PostgreSQL store's connection and session lock among them):
    it ends with its session, not at its next idle check (made 600 s here)."""
    import subprocess
    import sys

    session = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "import sandbox.analyzer as a\n"
        "a.PARENT_CHECK_S = 600.0\n"
        "worker = a.AnalyzerProcess([])\n"
        "print(worker.pid, flush=True)\n"
        "time.sleep(600)\n")], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        worker = int(session.stdout.readline())
        os.kill(worker, 0)                      # alive beside its session
        session.send_signal(signal.SIGKILL)
        session.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the worker outlived its killed session")
    finally:
        session.kill()
        session.wait()
