"""A run's variant records re-written before upload, to an allowed destination, replay as a leak.

The CEU trio's VCF in the run folder; its records sent as JSON (with the trio's genotypes), CSV and
HGVS names each replayed clean before: no bytes of the VCF are in them.
"""

from __future__ import annotations

import json

import pysam

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay

ALLOWED = "192.0.2.9"


def _upload(path, body: bytes) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 443), t0=1.0)
        c.send(b"POST /results HTTP/1.1\r\nHost: lims.lab.example\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        c.close()


def test_variant_records_written_otherwise_replay_as_a_leak(shared_data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "trio.vcf").write_bytes((shared_data / "sequences/human/CEUTrio-snps.vcf").read_bytes())
    records = []
    with pysam.VariantFile(str(run / "trio.vcf")) as fh:
        for r in fh:
            records.append({"chrom": r.chrom, "pos": r.pos, "ref": r.ref, "alt": list(r.alts),
                            "genotypes": [list(r.samples[s]["GT"]) for s in fh.header.samples]})
    bodies = {
        "json": json.dumps({"calls": records}).encode(),
        "csv": "\n".join(f"{r['chrom']},{r['pos']},{r['ref']},{r['alt'][0]}" for r in records).encode(),
        "hgvs": "\n".join(f"chr{r['chrom']}:g.{r['pos']}{r['ref']}>{r['alt'][0]}" for r in records).encode(),
    }
    for name, body in bodies.items():
        _upload(tmp_path / f"{name}.pcap", body)
        report = replay([tmp_path / f"{name}.pcap"], [run], allow=[ALLOWED], cache_dir=tmp_path / "cache", jobs=1).report
        assert report["verdict"] == "leak", name
        (leak,) = [f for f in report["findings"] if "variants" in f["evidence_kinds"]]
        assert leak["kind"] == "variants" and leak["severity"] == "critical", name
        assert leak["detail"]["variants"]["matched"] == len(records), name
        assert not any("preview" in e for e in leak["evidence"] if e["kind"] == "variants"), name
