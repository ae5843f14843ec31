"""Reads compressed with the fast codecs (LZ4, snappy), alone or inside data files (Parquet, Feather,
Avro, ORC, a Windows cabinet, a 7z archive, a zip of LZMA members), and zlib or raw deflate after a
vendor's own header or in chunks, uploaded to an allowed destination, replay as a leak.  So do the
archivers' other methods: zips of Deflate64 (Windows' own for large files) or PPMd members, 7z
archives of PPMd, Deflate64 or ARM64-filtered folders, compress(1)'s LZW (a .Z file, HTTP's
"compress" coding), lzip's .lz: each replayed clean before (their bytes look like ciphertext, under the
threshold); so did a raw LZ4 block, behind its size or not (python-lz4's, Java's), which has no magic;
and an unaligned CRAM of the reads (htslib's rANS coders: bytes no decoder opened).

LZ4 and snappy spend no bits on entropy coding: reads compressed with them are short runs of
letters between back-references, too chopped for k-mers and too regular to look like ciphertext;
the data files compress block by block with codecs that leave no magic (raw snappy, raw deflate
after a binary header, LZMA without a header in 7z and zip), where no stream decoder looked (zlib
and raw deflate were read at a view's start only).  Each of
these replayed clean before (the 7z archive and the LZMA zip because they are below the
opaque-volume threshold; a snappy Parquet file of reads with their qualities was only a high
run-bytes leak, through its page statistics and literals).
"""
from __future__ import annotations

import gzip
import io
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import cramjam
import fastavro
import lz4.block
import lz4.frame
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pysam
import pytest

from sandbox.replay import replay
from sandbox.simulate.novaseq import make_novaseq_run
from tests.hostile.uploads import ALLOWED, http_upload, sequence_leak


def _parquet(table: pa.Table, codec: str) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=codec, write_statistics=False)
    return buf.getvalue()


def _feather(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    feather.write_feather(table, buf, compression="lz4")
    return buf.getvalue()


def _avro(seqs: list[str], codec: str) -> bytes:
    buf = io.BytesIO()
    schema = {"type": "record", "name": "Read", "fields": [{"name": "seq", "type": "string"}]}
    fastavro.writer(buf, schema, [{"seq": s} for s in seqs], codec=codec)
    return buf.getvalue()


def _orc(table: pa.Table, codec: str) -> bytes:
    buf = io.BytesIO()
    orc.write_table(table, buf, compression=codec)
    return buf.getvalue()


def _cabinet(fastq: bytes) -> bytes:
    """A Windows diagnostics cabinet (MSZIP, as makecab and Windows Error Reporting write) holding
    the reads, made by gcab."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "InstrumentLogs.txt").write_bytes(fastq)
        subprocess.run(["gcab", "-c", "-z", "report.cab", "InstrumentLogs.txt"], cwd=tmp, check=True)
        return (Path(tmp) / "report.cab").read_bytes()


def _7z(fastq: bytes, *switches: str) -> bytes:
    """A 7-Zip archive of the reads, as a Windows control PC's user would make one (LZMA2; or a zip
    of LZMA members with ``-tzip -mm=LZMA``)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "run.fastq").write_bytes(fastq)
        subprocess.run(["7zz", "a", "-bd", "-bso0", *switches, "logs.archive", "run.fastq"], cwd=tmp, check=True)
        return (Path(tmp) / "logs.archive").read_bytes()


def _cram(fastq: bytes, *options: bytes) -> bytes:
    """The reads as an unaligned CRAM, as htslib (pysam) writes one with ``options`` ("version=3.0": rANS
    4x8; "version=3.1": rANS Nx16 and its transforms)."""
    lines = fastq.splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reads.cram"
        with pysam.AlignmentFile(str(path), "wc", header={"HD": {"VN": "1.6", "SO": "unsorted"}},
                                 format_options=list(options)) as out:
            for i in range(0, len(lines) - 3, 4):
                read = pysam.AlignedSegment()
                read.query_name, read.query_sequence, read.flag = lines[i][1:].split()[0].decode(), lines[i + 1].decode(), 4
                read.query_qualities = pysam.qualitystring_to_array(lines[i + 3].decode())
                out.write(read)
        return path.read_bytes()


def _tool(command: list[str], data: bytes) -> bytes:
    """What a compressing tool writes of ``data`` to its standard output."""
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout


def _compress(data: bytes) -> bytes:
    """compress(1)'s .Z, as Debian's ncompress writes it."""
    return _tool(["compress", "-c"], data)


def _bundle(fastq: bytes, compress) -> bytes:
    """A vendor's bundle format: a header of its own, then the compressed bytes."""
    return b"VNDR" + struct.pack("<IIQQ", 2, len(fastq), 12345, 0) + compress(fastq)


def _chunks(fastq: bytes, compress) -> bytes:
    """Chunks of 8 KiB, each compressed on its own, after its length."""
    return b"".join(struct.pack("<I", len(c)) + c for c in (compress(fastq[i: i + 8192])
                                                            for i in range(0, len(fastq), 8192)))


def _raw_deflate(data: bytes) -> bytes:
    """What .NET's DeflateStream writes: deflate with no header."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _xerial(data: bytes) -> bytes:
    """A Kafka producer's snappy batch (snappy-java's framing) after a record batch header."""
    blocks = [bytes(cramjam.snappy.compress_raw(data[i: i + 32768])) for i in range(0, len(data), 32768)]
    return bytes(61) + b"\x82SNAPPY\x00" + (1).to_bytes(4, "big") * 2 + b"".join(
        len(b).to_bytes(4, "big") + b for b in blocks)


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fast")
    run = make_novaseq_run(tmp / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    lines = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()]
    return tmp, run, lines


UPLOADS = {
    "lz4 file": lambda fq, seqs: (lz4.frame.compress(fq), b""),
    "unaligned cram 3.0": lambda fq, seqs: (_cram(fq, b"version=3.0"), b"Content-Type: application/vnd.ga4gh.cram\r\n"),
    "unaligned cram 3.1": lambda fq, seqs: (_cram(fq, b"version=3.1"), b""),
    "unaligned cram 3.1, small": lambda fq, seqs: (_cram(fq, b"version=3.1", b"small"), b""),
    "lz4 block behind its size": lambda fq, seqs: (lz4.block.compress(fq), b""),      # python-lz4's default
    "lz4 block": lambda fq, seqs: (lz4.block.compress(fq, store_size=False), b""),    # Java's LZ4Compressor
    "lz4 block, high compression": lambda fq, seqs: (lz4.block.compress(fq, mode="high_compression"), b""),
    "snappy framed file": lambda fq, seqs: (bytes(cramjam.snappy.compress(fq)), b""),
    "kafka xerial batch": lambda fq, seqs: (_xerial(fq), b"Content-Type: application/vnd.kafka\r\n"),
    "snappy content coding": lambda fq, seqs: (bytes(cramjam.snappy.compress_raw(fq)), b"Content-Encoding: snappy\r\n"),
    "raw snappy push": lambda fq, seqs: (bytes(cramjam.snappy.compress_raw(fq)),
                                         b"Content-Type: application/x-protobuf\r\n"),
    "parquet snappy": lambda fq, seqs: (_parquet(pa.table({"seq": seqs}), "snappy"), b""),
    "parquet lz4": lambda fq, seqs: (_parquet(pa.table({"seq": seqs}), "lz4"), b""),
    "feather lz4": lambda fq, seqs: (_feather(pa.table({"seq": seqs})), b""),
    "avro deflate": lambda fq, seqs: (_avro(seqs, "deflate"), b"Content-Type: avro/binary\r\n"),
    "avro snappy": lambda fq, seqs: (_avro(seqs, "snappy"), b"Content-Type: avro/binary\r\n"),
    "orc zlib": lambda fq, seqs: (_orc(pa.table({"seq": seqs}), "zlib"), b""),
    "orc snappy": lambda fq, seqs: (_orc(pa.table({"seq": seqs}), "snappy"), b""),
    "windows cabinet": lambda fq, seqs: (_cabinet(fq), b"Content-Type: application/vnd.ms-cab-compressed\r\n"),
    "7z archive": lambda fq, seqs: (_7z(fq), b"Content-Type: application/x-7z-compressed\r\n"),
    "zip of lzma members": lambda fq, seqs: (_7z(fq, "-tzip", "-mm=LZMA"), b"Content-Type: application/zip\r\n"),
    "zip of deflate64 members": lambda fq, seqs: (_7z(fq, "-tzip", "-mm=Deflate64"), b""),
    "zip of ppmd members": lambda fq, seqs: (_7z(fq, "-tzip", "-mm=PPMd"), b""),
    "7z of ppmd": lambda fq, seqs: (_7z(fq, "-m0=PPMd"), b""),
    "7z of deflate64": lambda fq, seqs: (_7z(fq, "-m0=Deflate64"), b""),
    "7z behind arm64's filter": lambda fq, seqs: (_7z(fq, "-mf=ARM64"), b""),
    "compress .Z file": lambda fq, seqs: (_compress(fq), b"Content-Type: application/x-compress\r\n"),
    "compress content coding": lambda fq, seqs: (_compress(fq), b"Content-Encoding: compress\r\n"),
    "compress after a header": lambda fq, seqs: (_bundle(fq, _compress), b""),
    "lzip .lz file": lambda fq, seqs: (_tool(["lzip", "-c"], fq), b""),
    "lzip after a header": lambda fq, seqs: (_bundle(fq, lambda d: _tool(["lzip", "-c"], d)), b""),
    "bundle of zlib": lambda fq, seqs: (_bundle(fq, zlib.compress), b""),
    "bundle of raw deflate": lambda fq, seqs: (_bundle(fq, _raw_deflate), b""),
    "zlib chunks": lambda fq, seqs: (_chunks(fq, zlib.compress), b""),
    "raw deflate chunks": lambda fq, seqs: (_chunks(fq, _raw_deflate), b""),
}


@pytest.mark.parametrize("name", UPLOADS)
def test_reads_through_a_fast_compressor_replay_as_a_leak(run_reads, name):
    tmp, run, lines = run_reads
    seqs = [s.decode() for s in lines[1::4][:300]]
    body, headers = UPLOADS[name](b"\n".join(lines[:1200]) + b"\n", seqs)
    sequence_leak(tmp, run, name, body, headers)


def test_reads_in_the_names_of_a_7z_archive_s_files_replay_as_a_leak(run_reads):
    """120 empty files named with reads: 7-Zip packs the header that lists the names (LZMA), so no
    view held them and the 5 kB archive replayed clean; the packed header is a view of its own now."""
    tmp, run, lines = run_reads
    with tempfile.TemporaryDirectory() as folder:
        for n, seq in enumerate(lines[1::4][:120]):
            (Path(folder) / f"{n:03d}_{seq.decode()}.log").write_bytes(b"")
        subprocess.run(["7zz", "a", "-bd", "-bso0", "names.7z", "."], cwd=folder, check=True)
        archive = (Path(folder) / "names.7z").read_bytes()
    capture = tmp / "7z-names.pcap"
    http_upload(capture, archive, headers=b"Content-Type: application/x-7z-compressed\r\n")
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    # the names are UTF-16 in the header: read a byte a character, they are the run's own bytes
    assert any(f["severity"] in ("high", "critical") and f["chain"][-2:] == ["7z header", "utf-16"]
               for f in report["findings"]), report["findings"]


def test_a_cram_in_codecs_the_rig_does_not_read_is_never_clean(run_reads):
    """CRAM 3.1 with its arithmetic coder for the bases: the rig cannot read them, and says so."""
    tmp, run, lines = run_reads
    capture = tmp / "cram-arith.pcap"
    http_upload(capture, _cram(b"\n".join(lines[:1200]) + b"\n", b"version=3.1", b"use_arith=1", b"use_rans=0"))
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] != "clean" and any("arithmetic coder" in str(n) for n in report["not_examined"])
