"""gzip special cases: multi-member, BGZF (pysam and a real BAM), truncated and corrupt streams."""

from __future__ import annotations

import gzip
import struct
import zlib

import pysam
import pytest

from sandbox.decode import expand
from sandbox.decode.codec import decompress
from sandbox.decode.gzip import GzipDecoder, is_bgzf

CHAIN = ("tcp",)
TEXT = b"".join(b"@read%d\nACGTACGTTTGACCA%d\n+\nFFFFFFFFFFFFFFFF\n" % (i, i % 10) for i in range(5000))


def test_multi_member_is_one_view():
    data = gzip.compress(TEXT[:40000]) + gzip.compress(TEXT[40000:])
    exp = expand(data, CHAIN)
    assert [v.chain for v in exp.views if v.data == TEXT] == [CHAIN + ("gzip",)]


def test_trailing_garbage_after_member_is_ignored():
    exp = expand(gzip.compress(TEXT) + b"\x00" * 100, CHAIN)
    assert any(v.data == TEXT and v.chain == CHAIN + ("gzip",) for v in exp.views)


def test_bgzf_written_by_pysam(tmp_path):
    path = tmp_path / "reads.fastq.gz"
    with pysam.BGZFile(str(path), "wb") as f:
        f.write(TEXT * 3)  # > 64 KiB: several BGZF blocks plus the EOF block
    data = path.read_bytes()
    assert is_bgzf(data)
    exp = expand(data, CHAIN)
    assert [v.chain for v in exp.views if v.data == TEXT * 3] == [CHAIN + ("bgzf",)]


def test_real_bam_is_bgzf(shared_data):
    data = (shared_data / "sequences/human/NA12891.over.fingerprints.r1.bam").read_bytes()
    exp = expand(data, CHAIN)
    view = next(v for v in exp.views if v.chain == CHAIN + ("bgzf",))
    assert view.data.startswith(b"BAM\x01")


def test_real_fastq_gz(shared_data):
    path = shared_data / "sequences/sarscov2/illumina_test_1.fastq.gz"
    data = path.read_bytes()
    exp = expand(data, CHAIN)
    assert any(v.chain == CHAIN + ("gzip",) and v.data == gzip.decompress(data) for v in exp.views)


def test_truncated_stream_keeps_what_left():
    data = gzip.compress(TEXT)
    exp = expand(data[: len(data) // 2], CHAIN)
    view = next(v for v in exp.views if v.chain == CHAIN + ("gzip(truncated)",))
    assert len(view.data) > len(TEXT) // 4 and TEXT.startswith(view.data)


def test_truncated_second_member():
    first, second = gzip.compress(TEXT[:40000]), gzip.compress(TEXT[40000:])
    exp = expand(first + second[: len(second) // 2], CHAIN)
    view = next(v for v in exp.views if v.chain == CHAIN + ("gzip(truncated)",))
    assert view.data.startswith(TEXT[:40000]) and TEXT.startswith(view.data)


def test_corrupt_stream_keeps_the_good_part():
    data = bytearray(gzip.compress(TEXT))
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    got = list(GzipDecoder.decode(bytes(data), _budget()))
    assert len(got) == 1 and got[0][0] == "gzip(corrupt)"
    assert len(got[0][1]) >= 1024 and TEXT[:1024] == got[0][1][:1024]


def test_reserved_flags_are_not_gzip():
    assert list(GzipDecoder.decode(b"\x1f\x8b\x08\xe0" + bytes(20), _budget())) == []


def _budget():
    from sandbox.decode import Budget

    return Budget(1 << 26, "test")


def test_stream_inside_a_binary_frame():
    doc = b'{"reads": "' + b"ACGT" * 500 + b'"}'
    second = b"second payload of the frame, long enough"
    frame = (
        b"\x00\x01VNDR\x00\x00\x00c" + gzip.compress(doc) + b"\xff\xfe" + gzip.compress(second) + bytes(50)
    )
    views = {v.chain: v.data for v in expand(frame, CHAIN).views}
    assert views[CHAIN + ("gzip@10",)] == doc
    assert views[CHAIN + ("gzip@10", "json:$.reads")] == b"ACGT" * 500
    assert second in views.values()


def test_members_of_one_stream_are_not_found_again_at_their_offsets():
    data = gzip.compress(TEXT[:40000]) + gzip.compress(TEXT[40000:])
    assert [label for label, _ in GzipDecoder.decode(data, _budget())] == ["gzip"]


def _member(data: bytes, extra: bytes = b"") -> bytes:
    """A gzip member with ``extra`` as its extra field (FEXTRA), as RFC 1952 lays it out."""
    flags = b"\x04" if extra else b"\x00"
    head = b"\x1f\x8b\x08" + flags + b"\0\0\0\0\0\xff" + (struct.pack("<H", len(extra)) + extra if extra else b"")
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    return head + deflate.compress(data) + deflate.flush() + struct.pack("<II", zlib.crc32(data), len(data))


HIDDEN = gzip.compress(b"@r7\nGATTACAGATTACAGATTACA\n+\nFFFFFFFFFFFFFFFFFFFFF\n" * 50)


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_a_long_extra_field_is_kept_however_the_bytes_come(chunk):
    """An extra field is bytes of the writer's choosing no decompression outputs: a gzip of reads in the
    first member's or a later one's replayed clean.  BGZF's (6 bytes) is not kept."""
    extra = b"XY" + struct.pack("<H", len(HIDDEN)) + HIDDEN
    data = _member(b"first member\n" * 10) + _member(b"second member\n" * 10, extra) + _member(b"end\n", b"BC\x02\x00ab")
    got = decompress("gzip", data, 1 << 20, chunk=chunk)
    assert got.status == "ok" and got.members == 3 and got.extras == [extra]
    views = {v.chain: v.data for v in expand(data, ("tcp",)).views}
    assert views[("tcp", "gzip extra field")] == extra and ("tcp", "gzip extra field", "gzip@4") in views
