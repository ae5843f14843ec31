"""Reads in a PDF protected by an owner password alone (the empty user password: it opens in every
viewer, but its streams are RC4 or AES ciphertext), uploaded to an allowed destination, replay as a
leak.  Each of the five algorithms replayed clean before.  A PDF with a user password is said not
examined: the verdict is never clean."""

from __future__ import annotations

import io
import zlib

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from tests.hostile.uploads import assert_content_leak, run_and_reads, upload_report


def _in_the_clear(pdf: bytes, reads: bytes) -> bytes:
    """``pdf`` with one more object: a Flate stream of ``reads`` left in the clear (as a document's XRef
    or metadata streams may be)."""
    stream = zlib.compress(reads)
    extra = b"99 0 obj\n<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream\nendobj\n"
    at = pdf.rfind(b"xref")
    return pdf[:at] + extra + pdf[at:]


def _pdf(reads: bytes, algorithm: str, user: str = "") -> bytes:
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 8 Tf 10 780 Td (" + reads.replace(b"\n", b") Tj T* (") + b") Tj ET")
    page[NameObject("/Contents")] = writer._add_object(stream.flate_encode())
    writer.encrypt(user_password=user, owner_password="vendor-secret", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "pdfs")


@pytest.mark.parametrize("algorithm", ["RC4-40", "RC4-128", "AES-128", "AES-256-R5", "AES-256"])
def test_reads_in_a_pdf_protected_by_an_owner_password_replay_as_a_leak(run_reads, algorithm):
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, algorithm, _pdf(reads, algorithm)), algorithm)


def test_a_pdf_with_a_user_password_is_not_examined(run_reads):
    tmp, run, reads = run_reads
    report = upload_report(tmp, run, "user password", _pdf(reads, "AES-256", user="patient-data"))
    assert report["verdict"] == "inconclusive"
    assert any("user password" in row["what"] for row in report["not_examined"]), report["not_examined"]


@pytest.mark.parametrize("user", ["", "patient-data"])
def test_a_stream_left_in_the_clear_in_an_encrypted_pdf_is_read_as_it_is(run_reads, user):
    """An encrypted document may hold streams in the clear: one of reads, beside a small encrypted page,
    replayed clean when every stream was decrypted (the garbage it made read, the stream not)."""
    tmp, run, reads = run_reads
    body = _in_the_clear(_pdf(b"quarterly QC summary\n" * 40, "AES-128", user=user), reads)
    assert_content_leak(upload_report(tmp, run, f"clear stream {user}", body), user)
