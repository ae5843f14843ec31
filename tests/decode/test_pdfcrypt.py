"""PDF's standard security handler opened with the empty user password, as a viewer opens a document
protected by an owner password alone: every algorithm pypdf writes; a user password is said, not read."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from sandbox.decode.base import Budget
from sandbox.decode.pdf import PdfDecoder
from sandbox.decode.pdfcrypt import _string

CONTENT = b"BT /F1 8 Tf 10 780 Td (run 251123_M07011_0042 sample NA12878) Tj ET\n" * 40


def _pdf(algorithm: str | None, user: str = "", compress: bool = True) -> bytes:
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    stream = DecodedStreamObject()
    stream.set_data(CONTENT)
    page[NameObject("/Contents")] = writer._add_object(stream.flate_encode() if compress else stream)
    if algorithm:
        writer.encrypt(user_password=user, owner_password="vendor-secret", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _decode(data: bytes) -> tuple[list[bytes], list]:
    budget = Budget(1 << 24, "test")
    return [view for _, view in PdfDecoder.decode(data, budget)], budget.unread


@pytest.mark.parametrize("algorithm", ["RC4-40", "RC4-128", "AES-128", "AES-256-R5", "AES-256"])
def test_each_algorithm_opens_with_the_empty_user_password(algorithm):
    encrypted = _pdf(algorithm)
    assert CONTENT[:60] not in encrypted
    views, unread = _decode(encrypted)
    assert CONTENT in views and not unread
    views, _ = _decode(_pdf(algorithm, compress=False))       # a stream with no filter: its bytes decrypted
    assert CONTENT in views


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_a_user_password_is_said_not_read(algorithm):
    views, unread = _decode(_pdf(algorithm, user="patient-data"))
    assert views == [] and unread and "user password" in unread[0][0]


def test_literal_strings_with_escapes():
    assert _string(rb"(a\(b\)\\c\n\101\0)") == b"a(b)\\c\nA\x00"
    assert _string(b"<41 42 4>") == b"AB@"
