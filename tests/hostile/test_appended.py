"""A gzip of reads where an archive, a document or a form upload leaves bytes nobody reads, uploaded to
an allowed destination, replays as a leak.

A structural decoder's parts stood for its whole view, and the search for compressed streams skipped
a view one had taken apart: a gzip of 40 kB of reads appended to a zip, a tar, a 7z, a cabinet, an Avro
file or a PDF (after a stream read), put between a zip's members or before it, replayed clean; so did
one in a multipart form's preamble or epilogue (which the splitter dropped), in a body declared
multipart whose boundary never came, or in a gzip member's extra field (a file, or HTTP's gzip coding).  Now what a structure does not hold is read as a view of its own,
and a form's preamble and epilogue are parts."""

from __future__ import annotations

import gzip
import io
import struct
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

import fastavro
import pytest

from sandbox.replay import replay
from tests.hostile.uploads import (
    ALLOWED,
    assert_content_leak,
    assert_no_content,
    http_upload,
    run_and_reads,
    unrelated_reads,
    upload_report,
)

LOG = b"".join(b"%d instrument self-test passed\n" % i for i in range(400))


def _zip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("selftest.log", LOG)
    return buf.getvalue() + data


def _between_members(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("selftest.log", LOG)
        buf.write(data)
        zf.start_dir = buf.tell()
        zf.writestr("settings.ini", b"[run]\nmode=qc\n" * 20)
    return buf.getvalue()


def _tar(data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("selftest.log")
        info.size = len(LOG)
        tf.addfile(info, io.BytesIO(LOG))
    return buf.getvalue() + data


def _tool(data: bytes, command: list[str], made: str) -> bytes:
    """The self-test log archived by ``command`` (7-Zip, gcab), ``data`` after it."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "selftest.log").write_bytes(LOG)
        subprocess.run(command, cwd=tmp, check=True, capture_output=True)
        return (Path(tmp) / made).read_bytes() + data


def _avro(data: bytes) -> bytes:
    buf = io.BytesIO()
    schema = {"type": "record", "name": "status", "fields": [{"name": "line", "type": "string"}]}
    fastavro.writer(buf, schema, [{"line": line.decode()} for line in LOG.splitlines()], codec="deflate")
    return buf.getvalue() + data


def _pdf(data: bytes) -> bytes:
    page = zlib.compress(b"BT /F1 12 Tf 72 712 Td (Instrument self-test passed) Tj ET\n" * 30)
    return b"%PDF-1.7\n" + b"4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream\nendobj\n" \
        % (len(page), page) + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n" + data


def _gzip_extra(data: bytes) -> bytes:
    """A gzip of the self-test log whose second member's extra field holds ``data`` (its first 65,000 bytes)."""
    extra = b"XY" + struct.pack("<H", len(data[:65000])) + data[:65000]
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    member = (b"\x1f\x8b\x08\x04\0\0\0\0\0\xff" + struct.pack("<H", len(extra)) + extra + deflate.compress(LOG)
              + deflate.flush() + struct.pack("<II", zlib.crc32(LOG), len(LOG)))
    return gzip.compress(b"self-test\n") + member


CONTAINERS = {
    "after a zip": _zip,
    "before a zip": lambda data: data + _zip(b""),
    "between a zip's members": _between_members,
    "after a tar": _tar,
    "after a 7z": lambda data: _tool(data, ["7zz", "a", "-bd", "out.7z", "selftest.log"], "out.7z"),
    "after a cabinet": lambda data: _tool(data, ["gcab", "-c", "-z", "out.cab", "selftest.log"], "out.cab"),
    "after an Avro file": _avro,
    "after a PDF": _pdf,
    "in a gzip member's extra field": _gzip_extra,
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "appended")


@pytest.mark.parametrize("name", CONTAINERS)
def test_a_gzip_of_reads_where_a_structure_leaves_bytes_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, name, CONTAINERS[name](gzip.compress(reads))), name)


@pytest.mark.parametrize("name", CONTAINERS)
def test_a_gzip_of_other_bytes_there_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    report = upload_report(tmp, run, f"other {name}", CONTAINERS[name](gzip.compress(unrelated_reads(name))))
    assert_no_content(report, name)


def test_a_gzip_of_reads_in_a_content_codings_extra_field_replays_as_a_leak(run_reads):
    """Content-Encoding: gzip: the body was decoded and the member's extra field read by nobody."""
    tmp, run, reads = run_reads
    capture = tmp / "content-coding-extra.pcap"
    http_upload(capture, _gzip_extra(gzip.compress(reads)), headers=b"Content-Encoding: gzip\r\n")
    assert_content_leak(replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report, "extra")


FORM = (b"--b0undary\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\nself-test passed\r\n"
        b"--b0undary--\r\n")
FORMS = {
    "a form's epilogue": lambda data: FORM + data,
    "a form's preamble": lambda data: b"This is a multi-part message.\r\n" + data + b"\r\n" + FORM,
    "a body declared multipart whose boundary never comes": lambda data: data,
}


@pytest.mark.parametrize("name", FORMS)
def test_a_gzip_of_reads_around_a_forms_parts_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    capture = tmp / f"{name.replace(' ', '-')}.pcap"
    http_upload(capture, FORMS[name](gzip.compress(reads)),
                headers=b"Content-Type: multipart/form-data; boundary=b0undary\r\n")
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert_content_leak(report, name)
