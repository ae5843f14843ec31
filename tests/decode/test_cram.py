"""CRAM: files htslib (pysam) writes in every version and profile, unaligned and aligned, cut or damaged."""

from __future__ import annotations

import random
from pathlib import Path

import pysam
import pytest

from sandbox.decode import expand
from sandbox.decode.cram import CramDecoder
from tests.conftest import SHARED_DATA

CHAIN = ("tcp",)
rng = random.Random(11)
READS = [(f"r{i}", "".join(rng.choice("ACGT") for _ in range(151)), "".join(rng.choice("F:,#") for _ in range(151)))
         for i in range(300)]
CHRM = SHARED_DATA / "sequences" / "human" / "chrM.reference.fasta"


def _cram(path: Path, *options: bytes, aligned_to: Path | None = None) -> bytes:
    """``READS`` as a CRAM, unaligned; or aligned at their place in ``aligned_to``'s first sequence."""
    if aligned_to is None:
        header = {"HD": {"VN": "1.6", "SO": "unsorted"}}
        with pysam.AlignmentFile(str(path), "wc", header=header, format_options=list(options)) as out:
            for name, seq, qual in READS:
                read = pysam.AlignedSegment()
                read.query_name, read.query_sequence, read.flag = name, seq, 4
                read.query_qualities = pysam.qualitystring_to_array(qual)
                out.write(read)
        return path.read_bytes()
    with pysam.FastaFile(str(aligned_to)) as fasta:
        contig = fasta.references[0]
        genome = fasta.fetch(contig)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": contig, "LN": len(genome)}]}
    with pysam.AlignmentFile(str(path), "wc", header=header, reference_filename=str(aligned_to),
                             format_options=list(options)) as out:
        for i, start in enumerate(range(0, len(genome) - 151, 50)):
            read = pysam.AlignedSegment()
            read.query_name, read.query_sequence = f"m{i}", genome[start:start + 151]
            read.reference_id, read.reference_start, read.cigarstring, read.mapping_quality = 0, start, "151M", 60
            read.query_qualities = pysam.qualitystring_to_array("F" * 151)
            out.write(read)
    return path.read_bytes()


def _bases_found(data: bytes) -> int:
    """How many of the reads' bases are in a view of their own (a k-mer's worth, their first 40)."""
    views = [v.data for v in expand(data, CHAIN).views[1:]]
    return sum(any(seq[:40].encode() in v for v in views) for _, seq, _ in READS)


@pytest.mark.parametrize("options", [(b"version=3.0",), (b"version=3.1",), (b"version=3.1", b"fast"),
                                     (b"version=3.1", b"small"), (b"version=3.0", b"use_bzip2", b"use_lzma"),
                                     (b"version=2.1",), (b"version=3.0", b"seqs_per_slice=50")])
def test_every_version_and_profile_gives_the_bases(tmp_path, options):
    """rANS 4x8 (3.0), rANS Nx16 with its transforms (3.1), gzip, bzip2, xz, 2.1's gzip: a CRAM of reads
    uploaded to an allowed destination replayed clean; now its bases are a view of letters."""
    data = _cram(tmp_path / "reads.cram", *options)
    assert CramDecoder.sniff(data)
    assert _bases_found(data) == len(READS)


def test_codecs_the_rig_does_not_read_are_said(tmp_path):
    """3.1 with the arithmetic coder instead of rANS (bases, qualities) and names tokenised: said, a block
    each, never passed over."""
    data = _cram(tmp_path / "arith.cram", b"version=3.1", b"use_arith=1", b"use_rans=0")
    exp = expand(data, CHAIN)
    said = [u.what for u in exp.unread if u.decoder == "cram"]
    assert said.count("CRAM block compressed with CRAM's adaptive arithmetic coder, which the rig does not read") == 2
    assert "CRAM block compressed with CRAM's name tokeniser, which the rig does not read" in said
    assert _bases_found(data) == 0 and not exp.notes


def test_aligned_records_are_said_unless_their_reference_is_embedded(tmp_path):
    """Aligned records keep only their differences from the reference: without it the bases are not in
    the file (said); with it embedded they are read."""
    said = "CRAM slice of records aligned to a reference the file does not embed (their bases are differences from it)"
    plain = expand(_cram(tmp_path / "aligned.cram", b"version=3.0", aligned_to=CHRM), CHAIN)
    assert said in {u.what for u in plain.unread}
    embedded = expand(_cram(tmp_path / "embedded.cram", b"version=3.0", b"embed_ref=1", aligned_to=CHRM), CHAIN)
    assert said not in {u.what for u in embedded.unread} and not embedded.notes
    with pysam.FastaFile(str(CHRM)) as fasta:
        genome = fasta.fetch(fasta.references[0]).encode()
    assert any(genome[1000:1060] in v.data for v in embedded.views[1:])


def test_a_real_aligned_cram_is_read_and_said(shared_data):
    """GATK's test CRAM (NA12878, b37, no reference here): its header and series read, its slices said."""
    data = (shared_data / "sequences" / "human" / "CEUTrio.HiSeq.WGS.b37.NA12878.20.21_n100.cram").read_bytes()
    exp = expand(data, CHAIN)
    assert any(v.chain[-1] == "cram:header" and b"@SQ" in v.data for v in exp.views)
    assert [u.decoder for u in exp.unread] == ["cram"] and not exp.notes


def test_a_cut_file_gives_what_arrived(tmp_path):
    data = _cram(tmp_path / "reads.cram", b"version=3.0", b"seqs_per_slice=50")
    whole = _bases_found(data)
    cut = _bases_found(data[: len(data) * 2 // 3])
    assert 0 < cut < whole


def test_damaged_files_never_raise(tmp_path):
    data = bytearray(_cram(tmp_path / "reads.cram", b"version=3.1", b"seqs_per_slice=100"))
    damage = random.Random(3)
    for _ in range(300):
        broken = bytearray(data)
        for _ in range(damage.randint(1, 8)):
            broken[damage.randrange(26, len(broken))] = damage.randrange(256)
        exp = expand(bytes(broken), CHAIN)
        assert not [n for n in exp.notes if "cram" in n or "rans" in n.lower()], exp.notes
