"""Opaque volume per destination: flows summed, content no decoder opened weighed, allow-list kept,
memory bounded."""

from __future__ import annotations

import os

from sandbox.analyzer import Analyzer, unfold
from sandbox.correlate import Correlator
from sandbox.correlate import opaque as opaque_book
from sandbox.correlate.opaque import OTHER_DESTINATIONS, OpaqueBook
from sandbox.model import FlowInfo
from tests.correlate.conftest import payload

THRESHOLD = 1 << 20


def _info(flow: str, dst: str = "203.0.113.9", out: int = 0, destination: str = "cloud.vendor.example",
          encrypted: bool = False, decrypted: bool = False, t: float = 1.0, **meta) -> FlowInfo:
    return FlowInfo(flow, "net", "tcp", "10.0.0.2", 40000, dst, 443, app="tls", destination=destination,
                    t_first=t, t_last=t + 1, bytes_out=out, encrypted=encrypted, decrypted=decrypted, meta=meta,
                    tls_out=out if encrypted else 0)


def _opaque(c: Correlator) -> list:
    return [f for f in c.findings() if f.kind == "opaque-volume"]


def test_an_upload_cut_into_many_connections_weighs_what_it_weighs_whole(gen_index):
    """Forty TLS connections without keys, each a tenth of the threshold: one finding for the destination."""
    c = Correlator([gen_index], opaque_threshold=THRESHOLD)
    flows = [_info(f"tcp 10.0.0.2:{40000 + n} > 203.0.113.9:443", out=THRESHOLD // 10, encrypted=True, t=n)
             for n in range(40)]
    for n in range(0, 40, 8):                  # judged as a live session does, a few at a time
        c.flows(flows[n:n + 8])
    (found,) = _opaque(c)
    assert found.bytes_out == 40 * (THRESHOLD // 10) and found.severity == "medium"
    assert found.flow == flows[0].flow and found.destination == "cloud.vendor.example"
    assert found.detail["flows"] == 40 and (found.t_first, found.t_last) == (0, 40)
    c.flows(flows)                             # judged again: counted once
    assert _opaque(c)[0].bytes_out == 40 * (THRESHOLD // 10)


def test_content_no_decoder_opened_makes_a_decrypted_upload_opaque(gen_index):
    """An encrypted bundle in a decrypted HTTPS upload: the flow's content is what the rig could not read."""
    c = Correlator([gen_index], opaque_threshold=THRESHOLD)
    flow = "tcp 10.0.0.2:40001 > 203.0.113.9:443"
    sealed = os.urandom(3 << 19)
    analyzer = Analyzer([gen_index])
    analyzer.correlator = c
    for piece in range(0, len(sealed), 1 << 18):
        analyzer.match(unfold(payload(sealed[piece:piece + (1 << 18)], flow=flow, destination="support.vendor.example")))
    c.flows([_info(flow, out=len(sealed) + 400, destination="support.vendor.example", encrypted=True, decrypted=True)])
    (found,) = _opaque(c)
    assert found.bytes_out == len(sealed) and found.detail["unopened"] == len(sealed)
    assert found.chain == ["tcp", "tls"] and found.destination == "support.vendor.example"


def test_readable_content_and_allowed_destinations_weigh_nothing(gen_index, gen_run):
    c = Correlator([gen_index], allow=["lims.lab.example"], opaque_threshold=THRESHOLD)
    reads = gen_run.reads[next(iter(gen_run.reads))]
    text = b"\n".join(reads) * 3
    c.unopened(payload(text, flow="a"), 0)
    c.unopened(payload(b"", flow="b", destination="lims.lab.example"), 2 * THRESHOLD)
    c.flows([_info("a", out=len(text), decrypted=True, encrypted=True),
             _info("b", out=2 * THRESHOLD, destination="lims.lab.example", encrypted=True, decrypted=True,
                   resolved=[["lims.lab.example", "10.20.0.1"]])])
    c.close()
    assert _opaque(c) == []


def test_content_of_a_flow_never_judged_counts_at_the_end(gen_index):
    """The flow table folded the flow away before its last payload was weighed: the end still counts it."""
    c = Correlator([gen_index], opaque_threshold=THRESHOLD)
    c.unopened(payload(b"", flow="gone", destination="sink.example"), THRESHOLD + 1)
    assert _opaque(c) == []
    c.close()
    (found,) = _opaque(c)
    assert found.destination == "sink.example" and found.bytes_out == THRESHOLD + 1
    assert found.flow == "gone" and c.unreadable()[0]["where"] == "gone"     # located by its flow


def test_the_book_is_bounded(monkeypatch):
    """Past its flows, the least recent is let go with its content counted; past its destinations,
    the rest share one tally."""
    monkeypatch.setattr(opaque_book, "MAX_FLOWS", 100)
    monkeypatch.setattr(opaque_book, "MAX_DESTINATIONS", 10)
    book = OpaqueBook()
    for n in range(1000):
        book.unopened(f"f{n}", "net", f"d{n}.example", 1000)
    assert len(book._flows) == 100
    assert sum(t.total for t in book.tallies.values()) == 900 * 1000
    assert len(book.tallies) == 11 and book.tallies[("net", OTHER_DESTINATIONS)].flows == 890
    for n in range(900, 1000):
        book.judge(_info(f"f{n}", destination=f"d{n}.example"), f"d{n}.example")
    assert sum(t.total for t in book.tallies.values()) == 1000 * 1000


def test_a_summary_of_folded_flows_is_not_counted_again():
    """Its flows were judged one by one while they lingered; the flow table's summary adds them up again."""
    book = OpaqueBook()
    flows = [_info(f"f{n}", out=5000, encrypted=True) for n in range(3)]
    for info in flows:
        book.judge(info, "cloud.vendor.example")
    summary = _info("tcp 10.0.0.2 > cloud.vendor.example (flows summarised)", out=15000, encrypted=True,
                    summary={"flows": 3, "examples": ["f0", "f1", "f2"]})
    assert book.judge(summary, "cloud.vendor.example") is None
    assert book.tallies[("net", "cloud.vendor.example")].total == 15000


def test_random_bytes_over_raw_tcp_count_once_whatever_the_chunks(gen_run, tmp_path):
    """A raw stream is matched in overlapping chunks (a fragment across a cut is whole in one); the
    bytes a chunk repeats from the one before count once: the finding's volume is what was sent."""
    from sandbox.captures.writer import PcapWriter, TcpConversation
    from sandbox.replay import replay

    sealed = os.urandom(300_000)
    pcap = tmp_path / "raw.pcap"
    with PcapWriter(pcap) as w:
        conv = TcpConversation(w, ("10.0.0.2", 40000), ("203.0.113.9", 7001), t0=1.0)
        for at in range(0, len(sealed), 50_000):       # pauses: the quiet stream is flushed between pieces
            conv.send(sealed[at:at + 50_000])
            conv.t += 2.0
        conv.close()
    report = replay([pcap], [gen_run.path], cache_dir=tmp_path / "cache", jobs=1).report
    (found,) = [f for f in report["findings"] if f["kind"] == "opaque-volume"]
    assert found["bytes_out"] == len(sealed) and found["detail"]["unopened"] == len(sealed)
    assert report["verdict"] == "inconclusive" and report["not_examined"][0]["bytes"] == len(sealed)


def test_an_upload_cut_over_many_destinations_weighs_what_it_weighs_whole(gen_index):
    """Twelve unlisted hosts, each a tenth of the threshold: one finding for the spread, its row in
    not_examined, the largest destinations named; under the threshold together, nothing."""
    c = Correlator([gen_index], opaque_threshold=THRESHOLD)
    flows = [_info(f"tcp 10.0.0.2:{40000 + n} > 203.0.113.{n}:443", dst=f"203.0.113.{n}", out=THRESHOLD // 10 + n,
                   destination=f"b{n}.storage.example", encrypted=True, t=n) for n in range(12)]
    c.flows(flows[:9])
    assert _opaque(c) == [] and c.unreadable() == []          # 0.9 of the threshold, together
    c.flows(flows[9:])
    (found,) = _opaque(c)
    total = sum(THRESHOLD // 10 + n for n in range(12))
    assert found.destination == opaque_book.SPREAD and found.bytes_out == total and found.severity == "medium"
    assert found.flow == flows[11].flow                         # located by its largest destination
    assert found.detail["destinations"] == 12 and found.detail["flows"] == 12
    assert list(found.detail["largest"]) == [f"b{n}.storage.example" for n in range(11, 1, -1)]
    (row,) = c.unreadable()
    assert row["where"] == flows[11].flow and row["bytes"] == total


def test_a_spread_is_withdrawn_when_a_destination_of_it_tells_it_alone(gen_index):
    """Two hosts at 0.6 of the threshold make a spread; one grows past the threshold: its own finding
    says it, the other alone is below it, and the spread is withdrawn (the store is told)."""
    c = Correlator([gen_index], opaque_threshold=THRESHOLD)
    a = _info("a", dst="203.0.113.1", out=THRESHOLD * 6 // 10, destination="a.example", encrypted=True)
    b = _info("b", dst="203.0.113.2", out=THRESHOLD * 6 // 10, destination="b.example", encrypted=True)
    c.flows([a, b])
    (spread,) = c.changed()
    assert spread.destination == opaque_book.SPREAD and c.take_withdrawn() == []
    a.bytes_out = a.tls_out = 2 * THRESHOLD
    c.flows([a])
    (alone,) = c.changed()
    assert alone.destination == "a.example" and c.take_withdrawn() == [spread.id]
    assert [row["where"] for row in c.unreadable()] == ["a"]
    assert c.take_withdrawn() == []


def test_tls_handshakes_are_read_not_weighed(gen_run, gen_index, tmp_path):
    """Without keys only a TLS flow's application data is opaque: a thousand handshakes to a thousand
    hosts weigh nothing, twelve hosts' uploads of a tenth of the threshold each are a spread."""
    from sandbox.captures.writer import PcapngWriter
    from sandbox.replay import replay
    from sandbox.simulate import wire
    from sandbox.simulate.traffic import Bench

    threshold = Correlator([gen_index]).opaque_threshold
    pcap = tmp_path / "spread.pcapng"
    with PcapngWriter(pcap) as w:
        bench = Bench(w)
        for n in range(1000):
            conv = bench.connect((f"203.0.{113 + n // 250}.{n % 250 + 1}", 443))
            conv.send(wire.client_hello(f"h{n}.cdn.example", os.urandom(32), os.urandom(32))
                      + wire.tls_record(wire.TLS_CCS, b"\x01"))
            bench.close(conv)
        for n in range(12):
            conv = bench.connect((f"198.51.100.{n + 1}", 443))
            conv.send(wire.client_hello(f"u{n}.storage.example", os.urandom(32), os.urandom(32)))
            conv.send(wire.server_hello(os.urandom(32), os.urandom(32), b""), from_client=False)
            conv.send(wire.tls_record(wire.TLS_APPDATA, os.urandom(threshold // 10)))
            bench.close(conv)
    report = replay([pcap], [gen_run.path], cache_dir=tmp_path / "cache", jobs=1).report
    (found,) = [f for f in report["findings"] if f["kind"] == "opaque-volume"]
    assert found["destination"] == opaque_book.SPREAD and found["detail"]["destinations"] == 12
    assert found["bytes_out"] == 12 * (threshold // 10)
    assert all(name.startswith("u") for name in found["detail"]["largest"])
    assert report["verdict"] == "inconclusive" and [n["bytes"] for n in report["not_examined"]] == [found["bytes_out"]]


def test_the_threshold_is_never_above_the_runs_smallest_file_of_reads_or_variants(tmp_path):
    """One sample's variants sealed whole must not pass under a threshold sized for the run's images."""
    import random

    from sandbox.index import build_index
    from tests.index.genrun import make_run

    run = make_run(tmp_path / "run", samples=2, reads_per_sample=3000)
    (run.path / "Thumbnail_Images").mkdir()
    (run.path / "Thumbnail_Images" / "L001_T1101.bin").write_bytes(os.urandom(8 << 20))
    rng = random.Random(5)
    rows = "".join(f"chr1\t{1000 + 37 * n}\t.\t{rng.choice('ACGT')}\t{rng.choice('ACGT')}\t50\tPASS\t.\tGT\t0/1\n"
                   for n in range(3000))
    vcf = run.path / "PT1000-Biopsy.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tPT1000-Biopsy\n" + rows)
    index = build_index(run.path, cache_dir=tmp_path / "cache")
    assert {f.kind for f in index.files} >= {"vcf", "fastq"} and index.total_bytes // 10 > vcf.stat().st_size
    assert Correlator([index]).opaque_threshold == vcf.stat().st_size


def test_tls_inside_decrypted_tls_is_sealed(gen_run, gen_index, tmp_path):
    """A tunnel in a tunnel: the rig holds the keys of the outer TLS only, so what the inner TLS
    carries was never read; before, the outer keys made the whole flow count as decrypted (clean)."""
    from sandbox.captures.writer import PcapWriter, TcpConversation
    from sandbox.replay import replay
    from tests.protocols.tls_pair import TlsPair

    outer = TlsPair(tmp_path / "outer", host="relay.example")
    inner = TlsPair(tmp_path / "inner", host="sink.example")
    sealed = os.urandom(Correlator([gen_index]).opaque_threshold * 2)
    pcap = tmp_path / "nested.pcap"
    with PcapWriter(pcap) as w:
        conv = TcpConversation(w, ("10.0.0.2", 40000), ("203.0.113.9", 443), t0=1.0)
        for from_client, flight in outer.handshake():
            conv.send(flight, from_client=from_client)
        for from_client, flight in inner.handshake():
            conv.send(outer.seal(flight, from_client=from_client), from_client=from_client)
        for at in range(0, len(sealed), 1 << 15):
            conv.send(outer.seal(inner.seal(sealed[at:at + (1 << 15)])))
        conv.close()
    report = replay([pcap], [gen_run.path], keylog=outer.keylog, cache_dir=tmp_path / "cache", jobs=1).report
    (found,) = [f for f in report["findings"] if f["kind"] == "opaque-volume"]
    assert len(sealed) <= found["bytes_out"] < len(sealed) + 4096      # the inner records' own bytes only
    assert found["detail"]["app"] == "tls" and report["verdict"] == "inconclusive"
