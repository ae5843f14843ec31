"""Quoted-printable (RFC 2045 6.7): MIME parts of e-mail uploads and some form posts."""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

_CODES = re.compile(rb"=(?:[0-9A-F]{2}|\r?\n)")
# Encoded lines are at most 76 chars (RFC 2045 6.7 rule 5); allow a little slack for CRLF.
_LONG_LINE = re.compile(rb"[^\n]{79,}")
MIN_CODES = 2  # one "=3D" can be chance ("x=3D" in code); two or more is an encoding


class QuotedPrintableDecoder(Decoder):
    name = "qp"
    text = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        if b"=" not in data[:65536] or not text.printable(data):
            return False
        codes = len(_CODES.findall(data, 0, 65536))
        # every "=" of quoted-printable starts a code (a literal one is "=3D"): text where most do
        # not (uuencoding, code, base64 padding) is something else with "=XX" in it by chance
        plain = data.count(b"=", 0, 65536) - codes
        return codes >= MIN_CODES and plain * 10 <= codes and _LONG_LINE.search(data) is None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        out = binascii.a2b_qp(data)
        if out != data:
            yield "qp", out
