"""Reads written otherwise than as ACGT letters, uploaded to an allowed destination, replay as a leak.

Each of these replayed clean before: the reads complemented, written as RNA, as digits, in codes of
several characters (Morse, pairs of punctuation), and as an unaligned BAM (gzip-compressed BGZF, its
bases half bytes) as Picard's FastqToSam makes of a FASTQ.
"""

from __future__ import annotations

import gzip
import json

import pysam

from sandbox.simulate.novaseq import make_novaseq_run
from tests.hostile.uploads import sequence_leak


def test_reads_written_otherwise_replay_as_a_leak(tmp_path):
    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    lines = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()]
    seqs, quals = lines[1::4][:300], lines[3::4][:300]
    bam = tmp_path / "reads.bam"
    with pysam.AlignmentFile(str(bam), "wb", header={"HD": {"VN": "1.6", "SO": "unsorted"}}) as out:
        for n, (seq, qual) in enumerate(zip(seqs, quals, strict=True)):
            rec = pysam.AlignedSegment(out.header)
            rec.query_name, rec.flag, rec.query_sequence = str(n), 4, seq.decode()
            rec.query_qualities = pysam.qualitystring_to_array(qual.decode())
            out.write(rec)
    bodies = {
        "complement": b"\n".join(s.translate(bytes.maketrans(b"ACGT", b"TGCA")) for s in seqs),
        "rna": json.dumps({"reads": [s.replace(b"T", b"U").decode() for s in seqs]}).encode(),
        "digits": b"\n".join(s.translate(bytes.maketrans(b"ACGT", b"0123")) for s in seqs),
        "unaligned bam": bam.read_bytes(),
    }
    for name, body in bodies.items():
        leak = sequence_leak(tmp_path, run, name, body)
        assert all("recoded" in e for e in leak["evidence"] if e["kind"] == "sequence"), name


SYMBOLS = {
    # invisible text: the reads as zero-width characters inside a visible sentence
    "zero-width characters": ("\u200b", "\u200c", "\u200d", "\u2060"),
    "emoji": ("\U0001F600", "\U0001F601", "\U0001F602", "\U0001F603"),
    "greek letters, comma-separated": ("α,", "β,", "γ,", "δ,"),
    "words": ("apple ", "cherry ", "grape ", "tomato "),
    "codes of two letters": ("zq ", "xk ", "wv ", "jy "),
    "numbers": ("101 ", "202 ", "303 ", "404 "),
}


def test_reads_written_in_symbols_of_more_than_one_byte_replay_as_a_leak(tmp_path):
    """Each base a character of two to four bytes, or a word: four symbols, but none a byte, so
    none of these was read (each replayed clean); now each is a leak naming the sample, read through
    ``characters`` or ``words``."""
    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    seqs = [s for s in [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()][1::4]
            if b"N" not in s][:200]
    for name, symbols in SYMBOLS.items():
        table = dict(zip(b"ACGT", symbols, strict=True))
        body = "".join(f"Run status: nominal. {''.join(table[b] for b in s)} All good.\n" for s in seqs).encode()
        leak = sequence_leak(tmp_path, run, name.replace(" ", "-").replace(",", ""), body)
        assert leak["samples"] == ["PT5699-T1"], name
        assert leak["chain"][-1] == ("words" if name in ("words", "codes of two letters", "numbers")
                                     else "characters"), (name, leak["chain"])


def _packed(seqs: list[bytes], order: bytes, high_first: bool) -> bytes:
    """Bases packed four to a byte, two bits each (``order``: the bases of codes 0-3), the high bits
    of a byte first or the low; each read padded to whole bytes with its code 0."""
    out = bytearray()
    for seq in seqs:
        codes = [order.index(b) for b in seq if b in order]
        codes += [0] * (-len(codes) % 4)
        for i in range(0, len(codes), 4):
            group = codes[i: i + 4] if high_first else codes[i: i + 4][::-1]
            out.append(group[0] << 6 | group[1] << 4 | group[2] << 2 | group[3])
    return bytes(out)


def test_reads_packed_two_bits_a_base_replay_as_a_leak(tmp_path):
    """Four bases to a byte (UCSC's .2bit and vendors' compact formats pack them so): 200 reads in
    7.5 kB, bytes as varied as ciphertext's and under the opaque-volume threshold, replayed clean in
    either bit order and any assignment of codes; now a leak naming the sample, read as two-bit codes."""
    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    seqs = [s for s in [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()][1::4]
            if b"N" not in s][:200]
    for order, high_first in ((b"ACGT", True), (b"ACGT", False), (b"TCAG", True), (b"GTAC", False)):
        name = f"packed-{order.decode()}-{'high' if high_first else 'low'}"
        leak = sequence_leak(tmp_path, run, name, b"VNDR\x01\x00" + _packed(seqs, order, high_first))
        assert leak["samples"] == ["PT5699-T1"], name
        bits = "high" if high_first else "low"
        assert all(f"two-bit codes, {bits} bits first" in e["recoded"] for e in leak["evidence"]
                   if e["kind"] == "sequence"), (name, leak["evidence"])


def _per_base_shapes(seqs: list[bytes], quals: list[bytes]) -> dict[str, bytes]:
    pairs = [list(zip(s.decode(), q.decode(), strict=True)) for s, q in zip(seqs, quals, strict=True)]
    return {
        # a base per JSON object (a QC export), a base per CSV row (a per-position table)
        "a base per JSON object": json.dumps(
            [{"read": n, "bases": [{"b": b, "q": ord(q) - 33} for b, q in p]} for n, p in enumerate(pairs)]).encode(),
        "a base per CSV row": b"".join(b"%d,%d,%s,%d\n" % (n, i, b.encode(), ord(q) - 33)
                                       for n, p in enumerate(pairs) for i, (b, q) in enumerate(p)),
        # each base followed by its quality letter (binned qualities: F, colon, comma, hash)
        "bases and qualities interleaved": b"\n".join("".join(b + q for b, q in p).encode() for p in pairs),
        "each base twice": b"\n".join(bytes(b for b in s for _ in range(2)) for s in seqs),
        "each base three times, lower case": b"\n".join(bytes(b for b in s.lower() for _ in range(3)) for s in seqs),
    }


def test_reads_written_a_base_at_a_time_replay_as_a_leak(tmp_path):
    """Reads without their names re-formatted base by base: a JSON object or a CSV row per base,
    each base followed by its quality, each base doubled or tripled.  Each replayed clean before
    (no run of 31 bases anywhere, or runs whose k-mers are no read's)."""
    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    lines = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()]
    seqs, quals = lines[1::4][:200], lines[3::4][:200]
    for name, body in _per_base_shapes(seqs, quals).items():
        leak = sequence_leak(tmp_path, run, name.replace(" ", "-").replace(",", ""), body)
        recoded = {e.get("recoded", "") for e in leak["evidence"] if e["kind"] == "sequence"}
        assert recoded and all(r for r in recoded), name


def test_a_base_at_a_time_of_another_genome_is_no_leak(tmp_path):
    """The same shapes of reads that are not the run's: clean (no finding)."""
    import random

    from sandbox.replay import replay
    from tests.hostile.uploads import ALLOWED, http_upload

    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    rng = random.Random(5)
    seqs = [bytes(rng.choice(b"ACGT") for _ in range(150)) for _ in range(200)]
    for name, body in _per_base_shapes(seqs, [b"F" * 150] * 200).items():
        capture = tmp_path / f"other-{len(body)}.pcap"
        http_upload(capture, body)
        report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp_path / "cache", jobs=1).report
        assert report["verdict"] == "clean" and not report["findings"], name


def _run_length(seqs: list[bytes], after: bool, ones: bool) -> bytes:
    import re

    def run(m: re.Match[bytes]) -> bytes:
        count = b"%d" % len(m[0]) if ones or len(m[0]) > 1 else b""
        return m[1] + count if after else count + m[1]
    return b"\n".join(re.sub(rb"([ACGTN])\1*", run, s) for s in seqs) + b"\n"


RUN_LENGTH = {"count before the base": (False, True), "count before, ones left out": (False, False),
              "count after the base": (True, True), "count after, ones left out": (True, False)}


def test_reads_run_length_coded_replay_as_a_leak(tmp_path):
    """Each run of a base as its count and the base (``3A1C2G``): replayed clean before, no k-mer
    surviving the digits (``sandbox.decode.runlength``); another genome's reads so: clean."""
    from sandbox.replay import replay
    from tests.hostile.uploads import ALLOWED, assert_content_leak, http_upload, upload_report

    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    seqs = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()][1::4][:200]
    import random
    rng = random.Random(6)
    others = [bytes(rng.choice(b"ACGT") for _ in range(150)) for _ in range(200)]
    for name, (after, ones) in RUN_LENGTH.items():
        report = upload_report(tmp_path, run, name.replace(",", ""), _run_length(seqs, after, ones))
        assert_content_leak(report, name)
        capture = tmp_path / f"other-{name.replace(' ', '-').replace(',', '')}.pcap"
        http_upload(capture, _run_length(others, after, ones))
        report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp_path / "cache", jobs=1).report
        assert report["verdict"] == "clean" and not report["findings"], name


def test_reads_two_bases_a_number_replay_as_a_leak(tmp_path):
    """Each pair of bases as one of sixteen numbers (4 x first + second, in the writer's order of the
    bases), a number a pair: replayed clean before (``sandbox.decode.pairs``); another genome's reads
    so: clean."""
    import random

    from sandbox.replay import replay
    from tests.hostile.uploads import ALLOWED, assert_content_leak, http_upload, upload_report

    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    seqs = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()][1::4][:200]
    rng = random.Random(7)
    others = [bytes(rng.choice(b"ACGT") for _ in range(150)) for _ in range(200)]

    def paired(reads: list[bytes], order: bytes) -> bytes:
        return b"\n".join(b" ".join(b"%d" % (4 * order.index(s[i]) + order.index(s[i + 1]))
                                    for i in range(0, len(s) - 1, 2) if s[i] in order and s[i + 1] in order)
                          for s in reads)
    for order in (b"ACGT", b"TGCA"):
        assert_content_leak(upload_report(tmp_path, run, f"pairs-{order.decode()}", paired(seqs, order)), order)
        capture = tmp_path / f"other-pairs-{order.decode()}.pcap"
        http_upload(capture, paired(others, order))
        report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp_path / "cache", jobs=1).report
        assert report["verdict"] == "clean" and not report["findings"], order


MORSE = {ord("A"): b".-", ord("C"): b"-.-.", ord("G"): b"--.", ord("T"): b"-", ord("N"): b"-."}
CODES = {     # (each base's code, what is between codes)
    "morse, a space between": (MORSE, b" "),
    "morse, a slash between": (MORSE, b"/"),
    "pairs of punctuation, spaced": (dict(zip(b"ACGTN", (b"()", b"[]", b"<>", b"{}", b"!!"), strict=True)), b" "),
    "pairs of punctuation run together": (dict(zip(b"ACGTN", (b"()", b"[]", b"<>", b"{}", b"!!"), strict=True)), b""),
    "pairs of letters run together": (dict(zip(b"ACGTN", (b"xq", b"zk", b"wv", b"jy", b"nn"), strict=True)), b""),
    "character codes run together": ({c: b"%03d" % c for c in b"ACGTN"}, b""),
}


def _coded(seqs: list[bytes], name: str) -> bytes:
    table, between = CODES[name]
    return b"\n".join(between.join(table[b] for b in s) for s in seqs) + b"\n"


def test_reads_written_in_codes_of_several_characters_replay_as_a_leak(tmp_path):
    """Each base a code of several characters (Morse, pairs of punctuation or letters, three-digit
    character codes), spaced or run together: replayed clean before (no symbol a byte, no code a word),
    read through ``codes`` now; another genome's reads so: clean."""
    import random

    from sandbox.replay import replay
    from tests.hostile.uploads import ALLOWED, http_upload

    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    seqs = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()][1::4][:200]
    rng = random.Random(6)
    others = [bytes(rng.choice(b"ACGT") for _ in range(150)) for _ in range(200)]
    for name in CODES:
        leak = sequence_leak(tmp_path, run, "codes-" + name.replace(" ", "-").replace(",", ""), _coded(seqs, name))
        assert leak["samples"] == ["PT5699-T1"] and leak["chain"][-1].startswith("codes"), (name, leak["chain"])
        capture = tmp_path / f"other-codes-{len(leak['chain'])}-{name.replace(' ', '-')}.pcap"
        http_upload(capture, _coded(others, name))
        report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp_path / "cache", jobs=1).report
        assert report["verdict"] == "clean" and not report["findings"], name


def _arrays(seqs: list[bytes]) -> dict[str, bytes]:
    import numpy as np

    codes = np.frombuffer(b"".join(seqs).translate(bytes.maketrans(b"ACGTN", b"\0\1\2\3\0")), np.uint8)
    header = b"\x93NUMPY\x01\x00v\x00" + b"{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % len(codes)
    return {
        "float32 one-hot rows (a model's input tensor)": np.eye(4, dtype="<f4")[codes].tobytes(),
        "uint8 one-hot rows": np.eye(4, dtype=np.uint8)[codes].tobytes(),
        "int64 codes": codes.astype("<i8").tobytes(),
        "an .npy of float32 codes": header.ljust(127) + b"\n" + codes.astype("<f4").tobytes(),
        "16-bit levels (an audio modem)": np.array([-20000, -6000, 6000, 20000], "<i2")[codes].tobytes(),
    }


def test_reads_as_a_pipeline_s_arrays_replay_as_a_leak(tmp_path):
    """Bases as a model's one-hot tensor, as int or float codes (an .npy too), as an audio modem's levels:
    each replayed clean before (no byte a base, every base several bytes), read through ``codes`` now;
    another genome's reads so: clean."""
    from sandbox.replay import replay
    from tests.hostile.uploads import ALLOWED, http_upload

    run = make_novaseq_run(tmp_path / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    seqs = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()][1::4][:150]
    import random

    rng = random.Random(7)
    others = _arrays([bytes(rng.choice(b"ACGT") for _ in range(150)) for _ in range(150)])
    for name, body in _arrays(seqs).items():
        leak = sequence_leak(tmp_path, run, "array-" + name.split(" (")[0].replace(" ", "-").replace(".", ""), body)
        assert leak["samples"] == ["PT5699-T1"] and leak["chain"][-1].startswith("codes"), (name, leak["chain"])
        capture = tmp_path / f"other-array-{len(body)}.pcap"
        http_upload(capture, others[name])
        report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp_path / "cache", jobs=1).report
        assert report["verdict"] == "clean" and not report["findings"], name
