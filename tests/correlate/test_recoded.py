"""Reads written otherwise than as ACGT letters are still the run's reads.

An instrument pays nothing to complement or reverse its reads, write them as RNA, as digits or byte
codes, spaced, as UTF-16, as an unaligned BAM (half-byte bases), packed two bits a base, a base per
JSON object or CSV row, each base after its quality or written two or three times: before,
each of these uploads was clean.  Each is a sequence finding now, with the reading that found it in its evidence; the
same encodings of reads from another genome find nothing.
"""

from __future__ import annotations

import gzip
import json
import random
import re

import pysam
import pytest

from sandbox.correlate import Correlator
from sandbox.index import build_index
from tests.correlate.conftest import payload, views
from tests.index.genrun import random_genome

SAMPLE = "PT1000-Biopsy"
COMPLEMENT = bytes.maketrans(b"ACGT", b"TGCA")


def unaligned_bam(reads: list[bytes], path) -> bytes:
    """The reads as an unaligned BAM with numbered names (what `samtools import` or Picard's
    FastqToSam make of a FASTQ), decompressed: its bases are half bytes."""
    with pysam.AlignmentFile(str(path), "wb", header={"HD": {"VN": "1.6", "SO": "unsorted"}}) as out:
        for n, read in enumerate(reads):
            rec = pysam.AlignedSegment(out.header)
            rec.query_name, rec.flag, rec.query_sequence = f"r{n}", 4, read.decode()
            rec.query_qualities = pysam.qualitystring_to_array("F" * len(read))
            out.write(rec)
    return gzip.decompress(path.read_bytes())


def packed(reads: list[bytes], high_first: bool, order: bytes = b"ACGT") -> bytes:
    """Four bases to a byte, two bits each (codes in ``order``), each read padded to whole bytes."""
    out = bytearray()
    for read in reads:
        codes = [order.index(b) for b in read] + [0] * (-len(read) % 4)
        for i in range(0, len(codes), 4):
            group = codes[i: i + 4] if high_first else codes[i: i + 4][::-1]
            out.append(group[0] << 6 | group[1] << 4 | group[2] << 2 | group[3])
    return bytes(out)


def encodings(reads: list[bytes], tmp_path) -> dict[str, bytes]:
    lines = b"\n".join
    half_bytes = {ord("A"): 1, ord("C"): 2, ord("G"): 4, ord("T"): 8}
    return {
        "complement": lines(r.translate(COMPLEMENT) for r in reads),
        "reversed": lines(r[::-1] for r in reads),
        "permuted": lines(r.translate(bytes.maketrans(b"ACGT", b"CATG")) for r in reads),
        "rna": lines(r.replace(b"T", b"U") for r in reads),
        "digits": lines(r.translate(bytes.maketrans(b"ACGT", b"0123")) for r in reads),
        "byte codes": b"".join(r.translate(bytes.maketrans(b"ACGT", b"\0\1\2\3")) for r in reads),
        "csv": lines(b",".join(bytes([b]) for b in r) for r in reads),
        "groups of ten": lines(b" ".join(r[i:i + 10] for i in range(0, len(r), 10)) for r in reads),
        "json of 25 bases": json.dumps([r[i:i + 25].decode() for r in reads for i in range(0, len(r), 25)]).encode(),
        "utf-16": lines(reads).decode().encode("utf-16-le"),
        "half bytes, low first": b"".join(bytes(half_bytes[r[i]] | half_bytes[r[i + 1]] << 4
                                                for i in range(0, len(r) - 1, 2)) for r in reads),
        "unaligned bam": unaligned_bam(reads, tmp_path / "reads.bam"),
        "two-bit codes, high bits first": packed(reads, True),
        "two-bit codes, low bits first": packed(reads, False, b"GTCA"),
        "a base per json object": json.dumps([[{"b": chr(b), "q": 37} for b in r] for r in reads]).encode(),
        "a base per csv row": b"".join(b"%d,%d,%c,37\n" % (n, i, b) for n, r in enumerate(reads) for i, b in enumerate(r)),
        "bases and qualities interleaved": lines(bytes(c for b in r for c in (b, ord("F"))) for r in reads),
        "each base twice": lines(bytes(b for b in r for _ in range(2)) for r in reads),
        "each base three times": lines(bytes(b for b in r for _ in range(3)) for r in reads),
    }


def test_reads_written_otherwise_are_found(gen_run, gen_index, tmp_path):
    reads = gen_run.reads[SAMPLE][:20]
    for name, body in encodings(reads, tmp_path).items():
        c = Correlator([gen_index])
        c.scan(payload(body), views(body))
        found = [f for f in c.findings() if f.kind == "sequence"]
        assert len(found) == 1 and found[0].samples == [SAMPLE], name
        f = found[0]
        assert f.severity in ("high", "critical") and f.detail["kmers"] >= 20 * 100, (name, f.detail["kmers"])
        rows = [e for e in f.evidence if e["kind"] == "sequence"]
        assert rows and all("recoded" in e for e in rows), name
        # what the report shows of it is no run data: masked text, or 8 bytes of hex
        assert all(len(e["preview"]) <= 17 or not re.search("[A-Za-z0-9]", re.sub(r"\\[nrt]", "", e["preview"][1:]))
                   for e in rows), name


def test_the_same_encodings_of_another_genome_s_reads_find_nothing(gen_index, tmp_path):
    other = random_genome(20 * 160, 4711)
    reads = [other[i:i + 150] for i in range(0, 20 * 160, 160)]
    c = Correlator([gen_index])
    for n, body in enumerate(encodings(reads, tmp_path).values()):
        c.scan(payload(body, flow=f"f{n}"), views(body))
    assert c.findings() == []


def test_plain_reads_are_read_once(gen_run, gen_index):
    """Reads sent as they are: the other readings are not tried (every k-mer asked was found as it
    is), so the figures are what they were."""
    read = gen_run.reads[SAMPLE][7]
    c = Correlator([gen_index])
    c.scan(payload(b">r\n" + read + b"\n"), views(b">r\n" + read + b"\n"))
    (f,) = c.findings()
    assert f.detail["kmers"] == 120 and not [e for e in f.evidence if "recoded" in e]


def test_half_the_reads_complemented_still_count(gen_run, gen_index):
    """Some reads as they are and the rest complemented: the plain ones must not stop the rig from
    reading the others (a single plain read would make the upload look like one read)."""
    reads = gen_run.reads[SAMPLE][:20]
    body = b"\n".join(r if n == 0 else r.translate(COMPLEMENT) for n, r in enumerate(reads))
    c = Correlator([gen_index])
    c.scan(payload(body), views(body))
    (f,) = c.findings()
    assert f.detail["kmers"] >= 20 * 100 and f.severity != "medium"


@pytest.mark.parametrize("name", ["complement", "digits", "unaligned bam", "two-bit codes, high bits first"])
def test_a_sampled_index_finds_them_too(gen_run, tmp_path, name):
    ix = build_index(gen_run.path, cache_dir=tmp_path / "cache", fp_budget=3000, kmer_budget=20_000)
    assert ix.km_scale > 1
    text = gzip.decompress((gen_run.path / gen_run.fastq[SAMPLE]).read_bytes())
    body = encodings(text.split(b"\n")[1:4000:4], tmp_path)[name]
    c = Correlator([ix])
    c.scan(payload(body), views(body))
    assert [f.samples for f in c.findings() if f.kind == "sequence"] == [[SAMPLE]]


def test_packed_reads_hidden_between_random_bytes_are_probed_where_they_are(gen_run, gen_index):
    """Packed reads in the middle of 200 kB of random bytes, two probe blocks and more of them: the
    probes after a view's start fall in every block at offsets of this process's drawing, so no
    place an instrument picks is left out (fixed probes at a view's quarters would miss them)."""
    rng = random.Random(8)
    text = gzip.decompress((gen_run.path / gen_run.fastq[SAMPLE]).read_bytes())
    reads = packed(text.split(b"\n")[1:2400:4], True)      # 600 reads, 22.5 kB
    assert len(reads) > 2 * 8192
    body = rng.randbytes(90_000) + reads + rng.randbytes(90_000)
    c = Correlator([gen_index])
    c.scan(payload(body), views(body))
    found = [f for f in c.findings() if f.kind == "sequence"]
    assert [f.samples for f in found] == [[SAMPLE]]
    assert all("two-bit codes, high bits first" in e["recoded"] for e in found[0].evidence
               if e["kind"] == "sequence")


def test_bases_among_other_bytes_are_looked_for_only_where_they_are_scattered_text():
    import base64
    import os

    from sandbox.correlate.sequence import scattered_bases, view_kmers

    rng = random.Random(3)
    read = bytes(rng.choice(b"ACGT") for _ in range(3000))
    per_row = b"".join(b"%d,%c,37\n" % (i, b) for i, b in enumerate(read))
    found = scattered_bases(per_row, None)
    assert found is not None and found.joined.tobytes() == read
    fastq = b"@r1 1:N:0:ACGT\n" + read + b"\n+\n" + b"F" * 3000 + b"\n"
    prose = b"The quick brown fox jumps over the lazy dog. " * 500
    for name, data in {"base64": base64.b64encode(os.urandom(30000)), "hex": os.urandom(20000).hex().upper().encode(),
                       "binary": os.urandom(40000), "prose": prose, "reads as reads": fastq,
                       "one letter": b"A" * 40000}.items():
        vk = view_kmers(data)
        assert scattered_bases(data, vk.runs if vk is not None else None) is None, name


def test_bases_written_twice_or_three_times_are_told_and_read_once():
    from sandbox.correlate.sequence import _repeated_stride, every_nth, view_kmers

    rng = random.Random(4)
    reads = [bytes(rng.choice(b"ACGT") for _ in range(150)) for _ in range(5)]
    for times in (2, 3):
        body = b"\n".join(bytes(b for b in r for _ in range(times)) for r in reads)
        runs = view_kmers(body).runs
        assert _repeated_stride(runs) == times
        once = every_nth(runs, times)
        assert once.joined.tobytes().replace(b"N", b"") == b"".join(reads)     # (lines of a run joined)
    for plain in (b"\n".join(reads), b"AC" * 2000, b"A" * 500 + b"C" * 500):
        vk = view_kmers(plain)
        assert vk is None or _repeated_stride(vk.runs) == 0


def test_reads_woven_a_base_at_a_time_come_apart_every_second_or_third_letter_from_each_start():
    from sandbox.correlate.sequence import _woven_samples, every_nth, view_kmers

    rng = random.Random(5)
    reads = [bytes(rng.choice(b"ACGT") for _ in range(150)) for _ in range(6)]
    for ways in (2, 3):
        woven = b"\n".join(bytes(b for bases in zip(*reads[n:n + ways], strict=True) for b in bases)
                           for n in range(0, 6, ways))
        runs = view_kmers(woven + b"\n").runs
        for first in range(ways):
            apart = every_nth(runs, ways, first).joined.tobytes().replace(b"N", b"")   # (lines of a run joined)
            assert apart == b"".join(reads[n + first] for n in range(0, 6, ways))
    long_run = view_kmers(bytes(rng.choice(b"ACGT") for _ in range(20000))).runs
    for stride, first, sample in _woven_samples(long_run):
        letters = long_run.joined.tobytes()
        windows = [piece for piece in sample.joined.tobytes().split(b"N") if piece]
        assert windows and all(piece in letters[first::stride] for piece in windows), (stride, first)


def test_runs_shorter_than_a_k_mer_are_joined_in_their_order_and_in_that_of_their_numbers():
    from sandbox.correlate.sequence import short_runs_joined, view_kmers

    rng = random.Random(6)
    read = bytes(rng.choice(b"ACGT") for _ in range(600))
    pieces = [(n, read[n * 24:(n + 1) * 24]) for n in range(25)]
    in_order = b"\n".join(b"%d,%s" % piece for piece in pieces)
    assert [r.joined.tobytes() for _, r in short_runs_joined(in_order)] == [read]
    rng.shuffle(pieces)
    before = b"\n".join(b"%d:%s" % piece for piece in pieces)
    after = b";".join(b"%s,%d" % (p, n) for n, p in pieces)
    for name, body, where in (("numbers before", before, "before"), ("numbers after", after, "after")):
        readings = dict(short_runs_joined(body))
        assert readings[f"runs of letters shorter than a k-mer, in the order of the numbers {where} them"] \
            .joined.tobytes() == read, name
    fastq = b"@r1 1:N:0:ACGT\n" + read + b"\n+\n" + b"F" * 600 + b"\n"
    for name, data in {"reads as reads": fastq, "prose": b"The CAT sat on the GATTACA mat. " * 300,
                       "index sequences": b"\n".join(b"S%d,ACGTACGT,TTGCAATG" % n for n in range(300))}.items():
        vk = view_kmers(data)
        assert list(short_runs_joined(data, vk.runs if vk is not None else None)) == [], name
