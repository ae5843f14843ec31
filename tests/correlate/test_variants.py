"""Variant records re-written in any text are the run's variants; chance matches are not.

The CEU trio's VCF (275 records) re-written as JSON, CSV, HGVS, a genotype list or gnomAD ids shares
no bytes with the file: before, each upload was clean.  Each is a variants finding now.  Text full
of numbers and short letter runs (UUIDs, hex, another genome's variants) meets a large VCF's
positions by chance; the decoy positions measure that chance, and no finding comes of it.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pysam
import pytest

from sandbox.correlate import Correlator
from sandbox.correlate.variants import MIN_LISTED, MIN_VARIANTS, significant
from sandbox.index import build_index
from tests.correlate.conftest import payload, views
from tests.index.genrun import random_variants, write_vcf

CEU = "sequences/human/CEUTrio-snps.vcf"


@pytest.fixture(scope="module")
def ceu(shared_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("ceu") / "run"
    run.mkdir()
    (run / "CEUTrio-snps.vcf").write_bytes((shared_data / CEU).read_bytes())
    (run / "SampleSheet.csv").write_text("[Data]\nSample_ID,Sample_Name\nS1,NA12891\n")
    records = []
    with pysam.VariantFile(str(run / "CEUTrio-snps.vcf")) as fh:
        names = list(fh.header.samples)
        for r in fh:
            records.append({"chrom": r.chrom, "pos": r.pos, "id": r.id, "ref": r.ref, "alt": ",".join(r.alts),
                            "qual": r.qual, **{s: "/".join(map(str, r.samples[s]["GT"])) for s in names}})
    return build_index(run, cache_dir=tmp_path_factory.mktemp("cache")), records


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A run with a whole genome's worth of positions, densely (200,000 variants)."""
    run = tmp_path_factory.mktemp("big") / "run"
    run.mkdir()
    variants = random_variants(200_000, 21)
    write_vcf(run / "S1.vcf", variants, "S1")
    (run / "SampleSheet.csv").write_text("[Data]\nSample_ID,Sample_Name\nS1,Patient1\n")
    return build_index(run, cache_dir=tmp_path_factory.mktemp("cache")), variants


def rewritten(records: list[dict]) -> dict[str, bytes]:
    return {
        "json": json.dumps(records).encode(),
        "csv": "\n".join(f"{r['chrom']},{r['pos']},{r['ref']},{r['alt']}" for r in records).encode(),
        "hgvs": " ".join(f"NC_0000{r['chrom']}.11:g.{r['pos']}{r['ref']}>{r['alt']}" for r in records).encode(),
        "genotype list": "\n".join(f"{r['id']}\t{r['chrom']}\t{r['pos']}\t{r['ref']}{r['alt']}" for r in records).encode(),
        "gnomad ids": ",".join(f"{r['chrom']}-{r['pos']}-{r['ref']}-{r['alt']}" for r in records).encode(),
        "pandas floats": "\n".join(f"{r['pos']}.0;{r['ref'].lower()};{r['alt'].lower()}" for r in records).encode(),
        "columns apart": json.dumps([{"a": r["ref"], "b": r["alt"], "note": "x" * 40, "p": r["pos"]}
                                     for r in records]).encode(),
    }


def findings_of(index, *bodies: bytes, flows: int = 1):
    corr = Correlator([index])
    for n, body in enumerate(bodies):
        corr.scan(payload(body, flow=f"tcp 10.0.0.2:{5000 + n % flows} > 203.0.113.9:80"), views(body))
    return [f for f in corr.findings() if "variants" in f.evidence_kinds]


def test_variant_records_written_otherwise_are_found(ceu):
    index, records = ceu
    for name, body in rewritten(records).items():
        (f,) = findings_of(index, body)
        assert f.kind == "variants", name
        assert f.severity == "critical" and f.detail["variants"]["matched"] == 275, name
        assert {"NA12878", "S1", "NA12892"} <= set(f.samples), name      # the JSON names them too
        rows = [e for e in f.evidence if e["kind"] == "variants"]
        assert rows and all("preview" not in e for e in rows), name
        assert 0 < f.bytes_matched <= len(body)


def test_twelve_variants_are_a_leak_eleven_not(ceu):
    index, records = ceu
    assert findings_of(index, rewritten(records[:MIN_VARIANTS - 1])["csv"]) == []
    (f,) = findings_of(index, rewritten(records[:MIN_VARIANTS])["csv"])
    assert f.severity == "high" and f.detail["variants"]["matched"] == MIN_VARIANTS


def test_a_leak_split_over_flows_to_one_destination_is_one(ceu):
    index, records = ceu
    bodies = [rewritten(records[i: i + 6])["json"] for i in range(0, 18, 6)]
    assert all(findings_of(index, b) == [] for b in bodies)
    found = findings_of(index, *bodies, flows=3)
    assert len(found) == 3 and sum(f.detail["variants"]["matched"] for f in found) == 18


def test_another_genome_s_variants_are_not_the_run_s(big):
    index, _ = big
    other = random_variants(100_000, 99)
    csv = "\n".join(f"{c},{p},{r},{a}" for c, p, r, a in other).encode()
    js = json.dumps([{"chrom": c, "pos": p, "ref": r, "alt": a, "gt": "0/1"} for c, p, r, a in other[:30_000]]).encode()
    assert findings_of(index, *[csv[i: i + (256 << 10)] for i in range(0, len(csv), 256 << 10)], js) == []


def test_numbers_beside_short_letter_runs_are_no_leak(big):
    index, _ = big
    rng = np.random.default_rng(5)
    texts = [
        ",".join(str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(60_000)).encode(),
        rng.bytes(1 << 20).hex().encode(),
        json.dumps([{"t": int(x), "a": "ACGT"[i % 4], "c": "TGCA"[i % 3]}
                    for i, x in enumerate(rng.integers(10, 250_000_000, 60_000))]).encode(),
        rng.bytes(2 << 20),
        " ".join(f"at {int(x)} a gene at position {int(y)}" for x, y in rng.integers(10, 99_999_999, (30_000, 2))).encode(),
    ]
    assert findings_of(index, *texts) == []


def test_the_run_s_variants_among_chance_matches_are_found(big):
    """Padding: 300 of the run's records among 150,000 of another genome's, in one upload."""
    index, variants = big
    rng = np.random.default_rng(8)
    mine = [variants[i] for i in rng.choice(len(variants), 300, replace=False)]
    rows = mine + random_variants(150_000, 77)
    order = rng.permutation(len(rows))
    body = "\n".join("{},{},{},{}".format(*rows[i]) for i in order).encode()
    (f,) = findings_of(index, *[body[i: i + (256 << 10)] for i in range(0, len(body), 256 << 10)])
    assert f.detail["variants"]["matched"] >= 300 and f.samples == ["S1"]


def test_significance():
    assert significant(MIN_VARIANTS, 0) and not significant(MIN_VARIANTS - 1, 0)
    assert not significant(100, 400)           # as many as four decoys met together: chance
    assert not significant(40, 100)
    assert significant(300, 40)


def test_a_leak_s_tally_let_go_for_others_keeps_counting(ceu, monkeypatch):
    """Past MAX_VARIANT_TALLIES the least recent tally is let go; a flow whose variants are a leak
    picks its own up again (the finding's count never drops)."""
    from sandbox.correlate import correlator

    index, records = ceu
    monkeypatch.setattr(correlator, "MAX_VARIANT_TALLIES", 2)
    corr = Correlator([index])
    first = rewritten(records[:20])["csv"]
    corr.scan(payload(first, flow="tcp 10.0.0.2:1 > 203.0.113.9:80"), views(first))
    for n in range(3):       # others push it out
        other = rewritten(records[100 + n: 101 + n])["csv"]
        corr.scan(payload(other, flow=f"tcp 10.0.0.2:{10 + n} > 203.0.113.9:80"), views(other))
    more = rewritten(records[20:40])["csv"]
    corr.scan(payload(more, flow="tcp 10.0.0.2:1 > 203.0.113.9:80"), views(more))
    (f,) = [f for f in corr.findings() if "variants" in f.evidence_kinds and f.flow.endswith(":1 > 203.0.113.9:80")]
    assert f.detail["variants"]["matched"] == 40


def test_a_table_written_column_by_column_is_found(ceu):
    """pandas' default JSON (to_json(): orient "columns") and to_dict("list") put the positions in one
    list and the alleles in others, far apart: numbers are read as positions alone where a view holds
    a column of alleles, and a leak of those needs more of them (MIN_LISTED)."""
    index, records = ceu
    cols = {k: [r[k] for r in records] for k in ("chrom", "pos", "ref", "alt", "qual")}
    shapes = {"columns": {k: {str(i): v for i, v in enumerate(col)} for k, col in cols.items()}, "list": cols}
    for name, table in shapes.items():
        (f,) = findings_of(index, json.dumps(table).encode())
        assert f.detail["variants"]["positions_alone"] == len(records) and f.severity == "critical", name
    few = {k: col[:MIN_LISTED - 1] for k, col in cols.items()}
    assert findings_of(index, json.dumps(few).encode()) == []


def test_another_genome_s_table_column_by_column_is_not_the_run_s(big):
    index, _ = big
    other = random_variants(100_000, 99)
    table = json.dumps({"chrom": [c for c, _, _, _ in other], "pos": [p for _, p, _, _ in other],
                        "ref": [r for _, _, r, _ in other], "alt": [a for *_, a in other]}).encode()
    assert findings_of(index, *[table[i: i + (256 << 10)] for i in range(0, len(table), 256 << 10)]) == []
