"""BCF: the records of a real VCF converted by htslib (pysam, as `bcftools view -Ob`) as text lines."""

from __future__ import annotations

import gzip

import pysam

from sandbox.decode import expand
from sandbox.decode.base import Budget
from sandbox.decode.bcf import BcfDecoder

CEU = "sequences/human/CEUTrio-snps.vcf"


def bcf_of(shared_data, tmp_path) -> tuple[bytes, list[tuple[int, str, tuple[str, ...]]]]:
    out = tmp_path / "trio.bcf"
    records = []
    with pysam.VariantFile(str(shared_data / CEU)) as vcf, pysam.VariantFile(str(out), "wb", header=vcf.header) as bcf:
        for rec in vcf:
            records.append((rec.pos, rec.ref, rec.alts))
            bcf.write(rec)
    return out.read_bytes(), records


def test_records_are_lines_of_position_and_alleles(shared_data, tmp_path):
    data, records = bcf_of(shared_data, tmp_path)
    assert data[:2] == b"\x1f\x8b"            # BGZF: the gzip decoder opens it
    raw = gzip.decompress(data)
    ((label, text),) = BcfDecoder.decode(raw, Budget(1 << 26, "test"))
    assert label == "bcf:records"
    assert text.splitlines() == [b"%d %s %s" % (p, r.encode(), ",".join(a).encode()) for p, r, a in records]
    chains = {v.chain[-1]: v.data for v in expand(data, ("tcp", "test")).views}
    assert chains["bcf:records"] == text and b"NA12878" in chains["bgzf"]       # the header's samples: text


def test_a_damaged_record_ends_the_text_and_says_so(shared_data, tmp_path):
    raw = bytearray(gzip.decompress(bcf_of(shared_data, tmp_path)[0]))
    head = 9 + int.from_bytes(raw[5:9], "little")
    first = 8 + int.from_bytes(raw[head: head + 4], "little") + int.from_bytes(raw[head + 4: head + 8], "little")
    raw[head + first + 32] = 0x0B               # the second record's ID: a type no BCF has
    ((label, text),) = BcfDecoder.decode(bytes(raw), Budget(1 << 26, "test"))
    assert label == "bcf:records (corrupt)" and text.count(b"\n") == 1
    ((label, text),) = BcfDecoder.decode(bytes(raw[: head + first + 10]), Budget(1 << 26, "test"))
    assert label == "bcf:records (truncated)" and text.count(b"\n") == 1


def test_the_budget_bounds_the_text(shared_data, tmp_path):
    raw = gzip.decompress(bcf_of(shared_data, tmp_path)[0])
    budget = Budget(100, "test")
    out = list(BcfDecoder.decode(raw, budget))
    assert sum(len(t) for _, t in out) <= 100 and budget.hit == "test" and budget.left > 0
