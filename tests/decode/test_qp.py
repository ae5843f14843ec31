"""Quoted-printable: soft line breaks and UTF-8 escapes; text with a stray "=3D" is not QP."""

from __future__ import annotations

import quopri

from sandbox.decode import expand
from sandbox.decode.qp import QuotedPrintableDecoder

CHAIN = ("smtp",)
TEXT = "Probe: NA12878 — Lauf A00123, Qualität ≥ 30, Gewebe=Blut\n".encode() * 20


def test_quoted_printable_with_soft_breaks():
    data = quopri.encodestring(TEXT)
    assert b"=\n" in data and b"=C3=A4" in data
    assert {v.chain: v.data for v in expand(data, CHAIN).views}[CHAIN + ("qp",)] == TEXT


def test_plain_text_with_an_equals_sign_is_not_qp():
    assert not QuotedPrintableDecoder.sniff(b"a=3D is how you write it, once\n" + b"plain line\n" * 10)
    assert not QuotedPrintableDecoder.sniff(b"x" * 200 + b"=3D=3D\n")  # line too long for QP
