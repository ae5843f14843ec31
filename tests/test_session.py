"""The one session driver: time-ordered merge of several sources, and a clock that makes a live
session cut payloads exactly where the replay of its recording cuts them."""

from __future__ import annotations

import math
import random
import threading
from pathlib import Path

import pytest

from sandbox.analyzer import Analyzer
from sandbox.captures import open_capture
from sandbox.captures.writer import PcapngWriter, PcapWriter, TcpConversation
from sandbox.engine import Engine
from sandbox.index import build_index
from sandbox.model import Payload
from sandbox.protocols import Dissector
from sandbox.replay import replay
from sandbox.session import CaptureSource, Session
from sandbox.simulate import ensure_demo

REPO = Path(__file__).resolve().parents[1]
ALLOW = ["lims.lab.example", "198.51.100.10"]


def essence(report: dict) -> list[tuple]:
    return sorted((f["id"], f["severity"], f["kind"], f["bytes_out"], f["bytes_matched"], tuple(f["samples"]))
                  for f in report["findings"])


def test_captures_split_in_two_replay_like_the_whole(tmp_path):
    run_dir, capture = ensure_demo(REPO / "captures" / "demo")
    halves = [tmp_path / "a.pcapng", tmp_path / "b.pcapng"]
    with PcapngWriter(halves[0]) as a, PcapngWriter(halves[1]) as b:
        for pkt in open_capture(capture).packets():
            (a if pkt.frame % 3 else b).write(pkt.data, pkt.t)       # interleaved in time
    whole = replay([capture], [run_dir], cache_dir=tmp_path, jobs=1, allow=ALLOW)
    split = replay(halves, [run_dir], cache_dir=tmp_path, jobs=1, allow=ALLOW)
    assert essence(split.report) == essence(whole.report)
    assert sum(c["packets"] for c in split.report["captures"]) == whole.report["captures"][0]["packets"]


def _payloads(segments, ticks: random.Random | None) -> list[tuple]:
    d = Dissector()
    out: list = []
    last = None
    for seg in segments:
        if ticks is not None and last is not None and seg.t > last:
            for _ in range(ticks.randrange(3)):        # a live clock ticking at arbitrary moments
                out.extend(d.tick(ticks.uniform(last, seg.t)))
        out.extend(d.feed(seg))
        last = seg.t
    out.extend(d.close())
    return [(p.flow, p.direction, p.chain, p.data) for p in out if isinstance(p, Payload)]


def test_ticks_at_any_moment_cut_payloads_where_the_replay_cuts_them():
    _, capture = ensure_demo(REPO / "captures" / "demo")
    segments = list(open_capture(capture))
    replayed = _payloads(segments, None)
    for seed in range(5):
        assert _payloads(segments, random.Random(seed)) == replayed


def test_tick_hands_over_a_quiet_raw_upload_without_waiting_for_the_end(tmp_path):
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    index = build_index(run_dir, cache_dir=tmp_path)
    fastq = next(p for p in run_dir.rglob("*.fastq.gz"))
    import gzip

    leak = gzip.decompress(fastq.read_bytes())[:20000]
    path = tmp_path / "raw.pcap"
    with PcapWriter(path) as w:
        TcpConversation(w, client=("10.0.0.2", 40000), server=("192.0.2.9", 7000), t0=100.0).send(leak)
    engine = Engine([index], analyzer=Analyzer([index]))
    for seg in open_capture(path):          # the upload, no answer, no FIN: the instrument goes quiet
        engine.feed(seg)
    assert not [f for f in engine.changed()[0] if f.kind in ("run-bytes", "sequence")]
    engine.tick(100.2)                      # not idle long enough yet
    assert not [f for f in engine.changed()[0] if f.kind in ("run-bytes", "sequence")]
    engine.tick(101.0)
    assert {f.kind for f in engine.changed()[0]} >= {"run-bytes"}


def test_findings_are_located_at_their_flows_first_outbound_frame_in_the_right_capture(tmp_path):
    """Merged ring files: each finding points at the file and frame number that hold its flow's first
    outbound bytes, whichever of the sources that frame came from."""
    run_dir, capture = ensure_demo(REPO / "captures" / "demo")
    halves = [tmp_path / "a.pcapng", tmp_path / "b.pcapng"]
    moved: dict[int, tuple[str, int]] = {}
    counts = [0, 0]
    with PcapngWriter(halves[0]) as a, PcapngWriter(halves[1]) as b:
        for pkt in open_capture(capture).packets():
            half = 0 if pkt.frame % 3 else 1
            (a, b)[half].write(pkt.data, pkt.t)
            counts[half] += 1
            moved[pkt.frame] = (str(halves[half]), counts[half])
    whole = replay([capture], [run_dir], cache_dir=tmp_path, jobs=1, allow=ALLOW)
    split = replay(halves, [run_dir], cache_dir=tmp_path, jobs=1, allow=ALLOW)
    where = {f["id"]: f["location"] for f in whole.report["findings"]}
    located = [f for f in split.report["findings"] if f["location"]]
    assert len(located) >= 5
    for f in located:
        assert (f["location"]["capture"], f["location"]["frame"]) == moved[where[f["id"]]["frame"]]
        assert f["location"]["byte_offset"] > 0 and f["location"]["byte_length"] > 0


def test_bytes_the_capture_missed_in_the_instruments_stream_make_the_replay_inconclusive(tmp_path):
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    whole, holed = tmp_path / "whole.pcapng", tmp_path / "holed.pcapng"
    with PcapngWriter(whole) as w:
        TcpConversation(w, client=("10.0.0.2", 40000), server=("192.0.2.9", 7000), t0=1.0).send(b"z" * 6000)
        TcpConversation(w, client=("10.0.0.2", 40001), server=("192.0.2.9", 7000), t0=2.0).send(
            b"y" * 3000, from_client=False)       # a hole in what the far end sent: not the instrument's
    packets = list(open_capture(whole).packets())
    data_frames = [p.frame for p in packets if len(p.data) > 100]
    dropped = {data_frames[1], data_frames[-2]}  # one segment of each direction never captured
    with PcapngWriter(holed) as w:
        for p in packets:
            if p.frame not in dropped:
                w.write(p.data, p.t)
    report = replay([holed], [run_dir], cache_dir=tmp_path, jobs=1).report
    assert report["verdict"] == "inconclusive"
    (row,) = report["not_examined"]
    assert row["where"] == "tcp 10.0.0.2:40000 > 192.0.2.9:7000" and row["bytes"] == 1460
    assert replay([whole], [run_dir], cache_dir=tmp_path, jobs=1).report["verdict"] == "clean"


class PausedAfterReading:
    """A live recording whose writer adds a packet just after the session has read to its end, while the
    session is paused (preempted on a loaded machine) for a second before it looks at the clock."""

    def __init__(self, path: Path, packets: list, clock: list[float], stop: threading.Event) -> None:
        self.raw = CaptureSource(path, follow=True, channel="net")
        self.out = PcapngWriter(path, interfaces=[])
        self.interface = self.out.add_interface(packets[0].linktype)
        self.packets, self.clock, self.stop = list(packets), clock, stop
        self._write()

    def _write(self) -> None:
        self.out.write(self.packets.pop(0).data, self.clock[0], interface=self.interface)
        self.out.flush()

    def poll(self, limit: int) -> list:
        segments = self.raw.poll(limit)     # to its end: a packet at a time is written
        if self.packets:
            self._write()
            self.clock[0] += 1.0
        elif not self.stop.is_set():
            self.out.close()
            self.stop.set()
        return segments

    def __getattr__(self, name: str):
        return getattr(self.raw, name)


def test_a_live_watermark_never_passes_a_packet_written_while_the_session_was_paused(tmp_path):
    """The watermark of a live recording read to its end covers what was written before the session read
    it (the clock is read first), so nothing the engine is fed is older than a watermark it was given."""
    run_dir, capture = ensure_demo(REPO / "captures" / "demo")
    packets = [p for _, p in zip(range(40), open_capture(capture).packets(), strict=False)]
    clock, stop = [1000.0], threading.Event()
    engine = Engine([build_index(run_dir, cache_dir=tmp_path)])
    late: list[tuple[float, float]] = []
    given = [-math.inf]
    feed, tick = engine.feed, engine.tick

    def fed(seg):
        if seg.t < given[0]:
            late.append((seg.t, given[0]))
        feed(seg)

    def ticked(watermark: float) -> None:
        given[0] = max(given[0], watermark)
        tick(watermark)

    engine.feed, engine.tick = fed, ticked
    source = PausedAfterReading(tmp_path / "live.pcapng", packets, clock, stop)
    Session(engine, [], live=True, clock=lambda: clock[0]).run([source], stop)
    assert given[0] > 1000.0 + len(packets) - 5        # the watermark did follow the writer
    assert late == []


@pytest.mark.parametrize("jobs", [1, 2])     # the analyzer in the session's process, and in a worker
def test_a_finding_withdrawn_during_the_session_leaves_the_store(tmp_path, monkeypatch, jobs):
    """Two hosts at 0.6 of the opaque threshold make a spread, written to the store; one of them then
    sends past the threshold alone: the spread is withdrawn, and the store holds the report's findings."""
    import os

    from sandbox import session as session_module
    from sandbox.correlate import Correlator
    from sandbox.correlate.opaque import SPREAD
    from sandbox.simulate import wire
    from sandbox.simulate.traffic import Bench
    from sandbox.store import Store

    monkeypatch.setattr(session_module, "STORE_FLUSH_REPLAY_S", 0.0)    # the store told after every batch
    monkeypatch.setattr(session_module, "POLL_BATCH", 4)
    run_dir, _ = ensure_demo(REPO / "captures" / "demo")
    threshold = Correlator([build_index(run_dir, cache_dir=tmp_path)]).opaque_threshold
    pcap = tmp_path / "withdrawn.pcapng"
    with PcapngWriter(pcap) as w:
        bench = Bench(w)
        for step in (("a.storage.example", "198.51.100.1", threshold * 6 // 10),
                     ("b.storage.example", "198.51.100.2", threshold * 6 // 10), None,
                     ("a.storage.example", "198.51.100.1", threshold)):
            if step is None:
                bench.wait(2.0)
                continue
            host, addr, size = step
            conv = bench.connect((addr, 443))
            conv.send(wire.client_hello(host, os.urandom(32), os.urandom(32)))
            conv.send(wire.tls_record(wire.TLS_APPDATA, os.urandom(size)))
            bench.close(conv)
        bench.wait(2.0)
    put: list[str] = []
    original = Store.put_findings
    monkeypatch.setattr(Store, "put_findings", lambda self, found: (put.extend(f.destination for f in found),
                                                                    original(self, found))[1])
    store = Store(tmp_path / "s.sqlite", fresh=True)
    report = replay([pcap], [run_dir], cache_dir=tmp_path, jobs=jobs, store=store).report
    assert SPREAD in put                                               # told while it stood
    opaque = [(f["destination"], f["bytes_out"]) for f in report["findings"] if f["kind"] == "opaque-volume"]
    assert opaque == [("a.storage.example", threshold * 16 // 10)]
    assert sorted(r["id"] for r in store.findings()) == sorted(f["id"] for f in report["findings"])
    store.close()
