"""Correlator exactness on a generated run: fragments, reads, identifiers, negatives, merging, severities."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from sandbox.correlate import Correlator
from sandbox.index.kmers import ADAPTERS
from sandbox.model import FlowInfo, Observation, View
from tests.correlate.conftest import payload, views
from tests.index.genrun import random_genome, revcomp

SAMPLE = "PT1001-Biopsy"


def _of_file(findings, rel, flow=None):
    (found,) = [f for f in findings if rel in [m.path for m in f.files] and (flow is None or f.flow == flow)]
    return found


def _only(findings, kind):
    """The one finding holding evidence of ``kind``."""
    found = [f for f in findings if kind in f.evidence_kinds]
    assert len(found) == 1, [(f.kind, f.evidence_kinds, f.files) for f in findings]
    return found[0]


@pytest.mark.parametrize("stream", ["raw", "decoded"])
def test_256_byte_fragment_found_with_file_and_offsets(gen_run, gen_index, stream):
    rel = gen_run.fastq[SAMPLE]
    data = (gen_run.path / rel).read_bytes()
    if stream == "decoded":
        data = gzip.decompress(data)
    rng = np.random.default_rng(3 if stream == "raw" else 4)
    for off in map(int, rng.integers(0, len(data) - 256, 40)):
        frag = data[off:off + 256]
        body = b"--boundary\r\nContent-Type: application/octet-stream\r\n\r\n" + frag + b"\r\n--boundary--"
        c = Correlator([gen_index])
        c.scan(payload(body), views(body))
        # FASTQ headers of one run share their prefix (instrument, flowcell): a fragment whose one
        # shared window is such a header matches the other sample's file too, which is true (both
        # are named unless its reads say which); its own file must be there with exact offsets
        f = _of_file(c.findings(), rel)
        assert SAMPLE in f.samples and (len(f.files) > 1 or f.samples == [SAMPLE])
        assert f.evidence_kinds[0] == "run-bytes"
        # one k-gram (32 bytes) alone is not enough for high; chained places are
        places = {tuple(e["view_range"]) for e in f.evidence if e["kind"] == "run-bytes"}
        lone_window = len(places) == 1 and max(m.bytes_matched for m in f.files) < 2 * 32
        assert f.severity == ("medium" if lone_window else "high"), (places, f.files)
        shift = body.index(frag)
        exact = 0
        for ev in (e for e in f.evidence if e["kind"] == "run-bytes"):
            a, b = ev["view_range"]
            s, e = ev["file_range"]
            assert ev["stream"] == stream and shift <= a < b <= shift + 256
            assert data[s:e] == body[a:b] and ev["stream_range"] == [a, b]
            exact += s - off == a - shift  # sequence shared by overlapping reads may also match elsewhere
        assert exact
        assert 32 <= f.bytes_matched <= 256


@pytest.mark.parametrize("stream", ["raw", "decoded"])
def test_severity_follows_the_bytes_proven(gen_run, gen_index, stream):
    """A 256-byte fragment shares one window with the file (32 bytes proven: medium); from about
    two windows on, fingerprints chain and the fragment is high; bytes never exceed what was sent."""
    rel = gen_run.fastq[SAMPLE]
    data = (gen_run.path / rel).read_bytes()
    if stream == "decoded":
        data = gzip.decompress(data)
    rng = np.random.default_rng(5)
    severities = []
    for off in map(int, rng.integers(0, len(data) - 1024, 20)):
        frag = data[off:off + 1024]
        c = Correlator([gen_index])
        c.scan(payload(frag), views(frag))
        f = _of_file(c.findings(), rel)
        assert f.bytes_matched <= f.bytes_out == 1024
        severities.append(f.severity)
    assert severities.count("high") >= 18, severities

def test_whole_file_leak_is_critical_with_fraction(gen_run, gen_index):
    rel = gen_run.fastq[SAMPLE]
    data = (gen_run.path / rel).read_bytes()
    c = Correlator([gen_index])
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    for n, chunk in enumerate(chunks):
        c.scan(payload(chunk, t=float(n)), views(chunk))
    f = _only(c.findings(), "run-bytes")
    assert f.severity == "critical" and f.files[0].fraction > 0.99
    assert f.t_first == 0.0 and f.t_last == len(chunks) - 1 + 0.5 and f.bytes_out == len(data)


def test_merging_two_payloads_on_one_flow_gives_the_union(gen_run, gen_index):
    rel = gen_run.fastq[SAMPLE]
    text = gzip.decompress((gen_run.path / rel).read_bytes())
    a, b = text[10_000:14_000], text[12_000:16_000]
    alone = []
    for part in (a, b):
        c = Correlator([gen_index])
        c.scan(payload(part), views(part))
        alone.append(_of_file(c.findings(), rel).bytes_matched)
    c = Correlator([gen_index])
    c.scan(payload(a, t=1.0), views(a))
    c.scan(payload(b, t=5.0), views(b))
    f = _of_file(c.findings(), rel)
    assert max(alone) < f.bytes_matched < sum(alone)
    assert 5000 < f.bytes_matched <= 6000 and f.t_first == 1.0 and f.t_last == 5.5
    other = Correlator([gen_index])
    other.scan(payload(a), views(a))
    other.scan(payload(b, flow="tcp 10.0.0.2:5001 > 203.0.113.9:80"), views(b))
    assert len([f for f in other.findings() if rel in [m.path for m in f.files]]) == 2


@pytest.mark.parametrize("form", ["fasta", "json", "revcomp", "lower", "wrapped"])
def test_single_read_found_and_attributed(gen_run, gen_index, form):
    read = gen_run.reads[SAMPLE][7]
    body = {
        "fasta": b">read7\n" + read + b"\n",
        "json": json.dumps({"reads": [{"id": "r7", "seq": read.decode()}]}).encode(),
        "revcomp": b"seq=" + revcomp(read),
        "lower": b"<s>" + read.lower() + b"</s>",
        "wrapped": b">r\n" + b"\n".join(read[i:i + 60] for i in range(0, len(read), 60)) + b"\n",
    }[form]
    c = Correlator([gen_index])
    c.scan(payload(body), views(body))
    f = _only(c.findings(), "sequence")
    assert f.samples == [SAMPLE] and f.detail["kmers"] == 120 and f.bytes_matched == 150
    # a single read is medium; its bytes (the read's line in the FASTQ) may prove a fragment as well
    proven = f.files[0].bytes_matched if f.files else 0
    assert f.severity == ("high" if proven >= 2 * 32 else "medium"), (f.evidence_kinds, proven)
    (row,) = [e for e in f.evidence if e["kind"] == "sequence"]
    assert "A" not in row["preview"][1:] and row["preview"][0] in "ACGTacgt"


def test_many_reads_high_and_whole_sample_critical(gen_run, gen_index):
    reads = gen_run.reads[SAMPLE][:20]
    body = b"".join(b">r\n" + r + b"\n" for r in reads)
    c = Correlator([gen_index])
    c.scan(payload(body), views(body))
    assert _only(c.findings(), "sequence").severity == "high"
    text = gzip.decompress((gen_run.path / gen_run.fastq[SAMPLE]).read_bytes())
    seqs = text.split(b"\n")[1::4]
    fasta = b"".join(b">x\n" + s + b"\n" for s in seqs)
    c = Correlator([gen_index])
    c.scan(payload(fasta, chain=("tcp", "http/1.1 POST /x")), [View(fasta, ("tcp", "http/1.1 POST /x"))])
    f = _only(c.findings(), "sequence")
    assert f.severity == "critical" and f.detail["sample_share"][SAMPLE] > 0.9


def test_unrelated_sequence_never_matches(gen_index):
    other = random_genome(30_000, 4242)
    phix_like = random_genome(5386, 174)  # PhiX-sized random genome of other origin
    reads = b"".join(b">o\n" + other[i:i + 150] + b"\n" for i in range(0, 29_000, 97))
    bodies = [reads, b"A" * 5000, b"T" * 151, b"CAG" * 400, b"GATA" * 300, phix_like,
              (ADAPTERS[0] * 20).encode(), b"\n".join(a.encode() for a in ADAPTERS) * 10,
              json.dumps({"seq": other[:10_000].decode().lower()}).encode()]
    c = Correlator([gen_index])
    for n, body in enumerate(bodies):
        c.scan(payload(body, flow=f"f{n}"), views(body))
    assert c.findings() == []


def test_identifiers_found_in_text_as_whole_tokens(gen_index):
    body = b'{"run":"240101_m09999_0042_000000000-zqx7k","note":"PT1000-Biopsy done","x":"PT1001-Biopsy7"}'
    c = Correlator([gen_index])
    c.scan(payload(body), views(body))
    f = _only(c.findings(), "identifier")
    assert f.identifiers == ["240101_M09999_0042_000000000-ZQX7K", "PT1000-Biopsy"]
    assert f.samples == ["PT1000-Biopsy"] and f.severity == "medium"
    assert all("view_range" in e and "identifier" in e for e in f.evidence)
    c = Correlator([gen_index])
    c.scan(payload(b"Sample test NA 2024 Lane 1 Dr"), views(b"Sample test NA 2024 Lane 1 Dr"))
    assert c.findings() == []


def test_inbound_payloads_and_decoded_views(gen_run, gen_index):
    text = gzip.decompress((gen_run.path / gen_run.fastq[SAMPLE]).read_bytes())[:3000]
    c = Correlator([gen_index])
    c.scan(payload(text, direction="in"), views(text))
    assert c.findings() == []
    packed = gzip.compress(text)
    c.scan(payload(packed), views(packed, (text, ("tcp", "http/1.1 POST /x", "gzip"))))
    f = _of_file(c.findings(), gen_run.fastq[SAMPLE])
    assert f.chain == ["tcp", "http/1.1 POST /x", "gzip"]
    rows = [e for e in f.evidence if e["kind"] == "run-bytes"]
    assert rows and all(e["stream"] == "decoded" and "stream_range" not in e for e in rows)


def test_dns_tunnel_upgrades_with_content(gen_run, gen_index):
    flow = "udp 10.0.0.2:5353 > 198.51.100.53:53"
    obs = Observation("dns-tunnel", "medium", flow, "net", "t.example", 1.0, 2.0, bytes_out=900,
                      chain=("udp", "dns"), detail={"labels": 40})
    c = Correlator([gen_index])
    c.observe(obs)
    f = _only(c.findings(), "dns-tunnel")
    assert f.severity == "medium" and f.detail["labels"] == 40 and f.bytes_out == 900
    body = b">r\n" + b"\n>r\n".join(gen_run.reads[SAMPLE][:5]) + b"\n"
    c.scan(payload(body, flow=flow, destination="t.example", chain=("udp", "dns")), [View(body, ("udp", "dns"))])
    assert _only(c.findings(), "dns-tunnel").severity == "high"
    c.observe(Observation("decode-error", "bogus", "f9", "usb", "", 3.0, 3.0))
    assert _only(c.findings(), "decode-error").severity == "info"


def _flow(flow, dst, out, encrypted=True, decrypted=False, destination="", **meta):
    return FlowInfo(flow, "net", "tcp", "10.0.0.2", 40000, dst, 443, app="tls", destination=destination or dst,
                    t_first=1.0, t_last=9.0, bytes_out=out, encrypted=encrypted, decrypted=decrypted, meta=meta,
                    tls_out=out if encrypted else 0)


def test_opaque_volume_and_destinations(gen_index):
    flows = [
        _flow("a", "203.0.113.5", 3 << 20, destination="cloud.vendor.example", sni="cloud.vendor.example"),
        _flow("b", "198.51.100.10", 5 << 20),  # allowed by CIDR
        # an allowed subdomain, its address given by the bench's resolver
        _flow("c", "203.0.113.6", 3 << 20, destination="x.lims.lab.example",
              resolved=[["x.lims.lab.example", "10.20.0.1"]]),
        _flow("d", "203.0.113.7", 3 << 20, decrypted=True),  # decrypted: content decides
        _flow("e", "203.0.113.8", 2000),  # handshake-sized
        # the allowed LIMS as the server name, its address vouched by nobody / by a resolver on the internet
        _flow("f", "203.0.113.9", 3 << 20, destination="lims.lab.example", sni="lims.lab.example"),
        _flow("g", "203.0.113.10", 3 << 20, destination="lims.lab.example", sni="lims.lab.example",
              resolved=[["lims.lab.example", "203.0.113.53"]]),
    ]
    c = Correlator([gen_index], allow=["lims.lab.example", "198.51.100.0/24"])
    c.flows(flows)
    found = c.findings()
    opaque = {f.flow: f for f in found if f.kind == "opaque-volume"}
    assert set(opaque) == {"a", "f", "g"} and {f.severity for f in opaque.values()} == {"medium"}
    # a claimed name nobody vouched for never names a finding: an allow-list would waive it by that name
    assert (opaque["f"].destination, opaque["g"].destination) == ("203.0.113.9", "203.0.113.10")
    dests = {f.destination: f for f in found if f.kind == "destination"}
    assert set(dests) == {"cloud.vendor.example", "203.0.113.7", "203.0.113.8", "203.0.113.9", "203.0.113.10"}
    assert all(f.severity == "low" for f in dests.values())
    assert dests["203.0.113.9"].detail["unverified_names"] == ["lims.lab.example"]
    assert [f.meta["allowed"] for f in flows] == [False, True, True, False, False, False, False]
    c2 = Correlator([gen_index])
    c2.flows(flows)
    assert {f.kind for f in c2.findings()} == {"opaque-volume"}  # no allow list: no destination findings


def test_changed_and_stable_ids(gen_run, gen_index):
    body = b"PT1000-Biopsy"
    c = Correlator([gen_index])
    c.scan(payload(body), views(body))
    first = c.changed()
    assert len(first) == 1 and c.changed() == []
    c.scan(payload(b"ZetaTrial-Batch7", t=7.0), views(b"ZetaTrial-Batch7"))
    again = c.changed()
    assert [f.id for f in again] == [first[0].id] and again[0].t_last == 7.5
    c2 = Correlator([gen_index])
    c2.scan(payload(body), views(body))
    assert c2.findings()[0].id == first[0].id
    assert c.state_bytes() < 100_000


def test_sampled_index_still_finds_large_leaks(gen_run, tmp_path):
    from sandbox.index import build_index

    ix = build_index(gen_run.path, cache_dir=tmp_path, fp_budget=3000, kmer_budget=20_000, progress=True)
    assert ix.fp_scale > 1 and ix.km_scale > 1
    rel = gen_run.fastq[SAMPLE]
    raw = (gen_run.path / rel).read_bytes()
    text = gzip.decompress(raw)
    fasta = b"".join(b">x\n" + s + b"\n" for s in text.split(b"\n")[1:4000:4])
    c = Correlator([ix])
    c.scan(payload(raw[:200_000]), views(raw[:200_000]))
    c.scan(payload(fasta, flow="f2"), views(fasta))
    found = c.findings()
    assert _of_file(found, rel, payload(b"").flow).files[0].fraction > 0.3
    seq = _only(found, "sequence")
    assert seq.samples == [SAMPLE] and "99.9%" in seq.detail["floor"]
    c = Correlator([ix])
    c.scan(payload(b">r\n" + gen_run.reads[SAMPLE][0]), views(b">r\n" + gen_run.reads[SAMPLE][0]))
    assert not [f for f in c.findings() if f.kind == "sequence" and f.severity != "medium"]
    assert not [f for f in c.findings() if f.severity in ("high", "critical")]


def test_samples_of_one_genome_are_told_apart_by_their_own_kmers(tmp_path):
    from sandbox.index import build_index
    from sandbox.index.kmerset import KmerSetBuilder

    genome = random_genome(20_000, 77)
    variant = bytearray(genome)
    for pos in range(100, 20_000, 400):  # B carries a SNP every 400 bases
        variant[pos] = ord("A" if genome[pos] != ord("A") else "C")
    b = KmerSetBuilder()
    b.add_reads([genome[i:i + 150] for i in range(0, 19_850, 50)], ("A",))
    b.add_reads([bytes(variant[i:i + 150]) for i in range(0, 19_850, 50)], ("B",))
    kmers, sids, sets, scale = b.finish()
    ix = build_index(make_tiny_run(tmp_path), cache_dir=tmp_path / "c")
    ix.km, ix.km_sid, ix.sample_sets = kmers, sids, [list(s) for s in sets.sets]
    body = b"".join(b">r\n" + bytes(variant[i:i + 150]) + b"\n" for i in range(0, 10_000, 150))
    c = Correlator([ix])
    c.scan(payload(body), views(body))
    f = _only(c.findings(), "sequence")
    assert f.samples == ["B"] and f.detail["exclusive_kmers"]["B"] > 100
    body = genome[5000:5150]  # between SNPs: both samples have it
    c = Correlator([ix])
    c.scan(payload(body), views(body))
    assert _only(c.findings(), "sequence").samples == ["A", "B"]


def make_tiny_run(tmp_path):
    run = tmp_path / "tiny"
    run.mkdir()
    (run / "notes.txt").write_text("nothing")
    return run


def test_packed_sort_orders_as_lexsort():
    from sandbox.correlate.correlator import _lexsort3

    rng = np.random.default_rng(6)
    for n, hi in ((0, 5), (1, 5), (300, 3), (300, 10**6), (300, 1 << 40)):  # 1 << 40: too wide to pack
        a, b, c = (rng.integers(-hi, hi, n) for _ in range(3))
        assert np.array_equal(_lexsort3(a, b, c), np.lexsort((a, b, c))), (n, hi)


def test_one_finding_per_leak_with_its_evidence_kinds(gen_run, gen_index):
    """A FASTQ upload is bytes, sequence and identifiers of one run on one flow: one finding."""
    rel = gen_run.fastq[SAMPLE]
    raw = (gen_run.path / rel).read_bytes()
    text = gzip.decompress(raw)[:200_000]
    c = Correlator([gen_index])
    c.scan(payload(raw[:60_000]), views(raw[:60_000], (text, ("tcp", "http/1.1 POST /x", "gzip"))))
    (f,) = c.findings()
    assert f.evidence_kinds == ["run-bytes", "sequence", "identifier"]
    # most of the sample's genome is in 200 KB of its reads: the sequence makes it critical
    assert f.severity == "critical" and f.kind == "sequence"
    assert f.chain == ["tcp", "http/1.1 POST /x", "gzip"]  # the chain of the evidence that decided
    assert [m.path for m in f.files] == [rel] and f.samples == [SAMPLE]
    assert {e["kind"] for e in f.evidence} == set(f.evidence_kinds)
    assert f.bytes_matched <= f.bytes_out == 60_000
    assert f.files[0].bytes_matched > 100_000  # of the decoded file: what the gzip carried
    c.scan(payload(b"PT1001-Biopsy", t=9.0), views(b"PT1001-Biopsy"))
    assert [g.id for g in c.findings()] == [f.id]  # more evidence, the same finding


def test_a_token_the_file_repeats_counts_once(tmp_path):
    """A 32-byte token a run file repeats 29 times, sent twice inside 887 bytes: the view place
    matches 28 places of the file, which proves 32 bytes of it, not 896 (and one window is medium)."""
    from sandbox.index import build_index

    rng = np.random.default_rng(12)
    token = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    run = tmp_path / "run"
    run.mkdir()
    (run / "blob.bin").write_bytes(rng.bytes(3000) + token * 29 + rng.bytes(3000))
    ix = build_index(run, cache_dir=tmp_path / "c")
    other = np.random.default_rng(0)
    body = other.bytes(300) + token * 2 + other.bytes(887 - 300 - 64)
    c = Correlator([ix])
    c.scan(payload(body), views(body))
    (f,) = c.findings()
    assert len({tuple(e["file_range"]) for e in f.evidence}) == 20  # many places (evidence is capped)
    assert f.bytes_matched == f.files[0].bytes_matched == 32 and f.bytes_out == 887
    assert f.severity == "medium"


def test_small_pieces_on_many_flows_to_one_destination_add_up(gen_run, gen_index):
    """A DNS tunnel sends each query from its own port: 76 bases a flow is a piece of a read
    (medium), a dozen reads to one destination is a leak (high)."""
    reads = gen_run.reads[SAMPLE][:12]
    pieces = [r[i:i + 76] for r in reads for i in (0, 76)]
    c = Correlator([gen_index])
    c.scan(payload(pieces[0], flow="udp 10.0.0.2:40000 > 198.51.100.53:53", destination="t.exfil.test"),
           views(pieces[0]))
    assert {f.severity for f in c.findings()} == {"medium"}
    for n, piece in enumerate(pieces[1:], 1):
        c.scan(payload(piece, flow=f"udp 10.0.0.2:{40000 + n} > 198.51.100.53:53", destination="t.exfil.test"),
               views(piece))
    found = c.findings()
    assert len(found) > 12 and {f.severity for f in found} == {"high"}
    assert all(f.samples == [SAMPLE] and f.detail["destination_content"]["bases"] > 300 for f in found)


def test_a_flood_of_encrypted_flows_to_one_destination_is_a_few_findings(gen_index):
    """An info finding per encrypted flow up to MAX_ENCRYPTED_FLOWS per destination, then one for the
    rest with their count and volume: a flood of connections cannot bury the report."""
    from sandbox.correlate.correlator import MAX_ENCRYPTED_FLOWS

    c = Correlator([gen_index])
    for n in range(MAX_ENCRYPTED_FLOWS + 84):
        for dest in ("cdn.example", "other.example") if n < 3 else ("cdn.example",):
            c.observe(Observation("encrypted", "info", f"udp 10.0.0.2:{1000 + n} > 10.0.0.9:443", "net", dest,
                                  float(n), float(n), bytes_out=100, chain=("udp", "quic"),
                                  detail={"bytes_in": 10, "decrypted": False}))
    found = [f for f in c.findings() if f.kind == "encrypted"]
    cdn = [f for f in found if f.destination == "cdn.example"]
    assert len(cdn) == MAX_ENCRYPTED_FLOWS + 1 and len(found) == len(cdn) + 3
    (rest,) = [f for f in cdn if not f.flow]
    assert rest.detail["flows"] == 84 and rest.detail["bytes_in"] == 840 and rest.bytes_out == 8400
