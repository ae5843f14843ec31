"""UTF-16 text: little- and big-endian, one byte off, among other bytes; what is not read."""

from __future__ import annotations

import base64
import gzip
import random

import pytest

from sandbox.decode import expand
from sandbox.decode.utf16 import Utf16Decoder

CHAIN = ("tcp",)
BLOB = gzip.compress(b"@r1\nACGTTGCAACGTTGCAACGT\n+\nFFFFFFFFFFFFFFFFFFFF\n" * 20 + random.Random(3).randbytes(200),
                     mtime=0)
TEXT = base64.b64encode(BLOB).decode()


def _direct(data: bytes) -> list[tuple[str, bytes]]:
    return list(Utf16Decoder.decode(data, None)) if Utf16Decoder.sniff(data) else []


@pytest.mark.parametrize(("data", "label"), [
    (TEXT.encode("utf-16-le"), "utf-16"),
    (TEXT.encode("utf-16"), "utf-16"),                                       # with its byte-order mark
    (TEXT.encode("utf-16-be"), "utf-16@1"),
    (b"\x03" + TEXT.encode("utf-16-le"), "utf-16@1"),                        # one byte off
    (b"\x01\x00\x16\x00" + bytes(22) + TEXT.encode("utf-16-le"), "utf-16"),  # after a TDS batch's headers
])
def test_ascii_text_in_utf16_is_read_a_byte_a_character(data, label):
    ((got_label, text),) = _direct(data)
    assert got_label == label and text == TEXT.encode()
    views = {v.chain: v.data for v in expand(data, CHAIN).views}
    assert views[CHAIN + (label, "base64", "gzip")].startswith(b"@r1\nACGT")


def test_runs_apart_are_joined_by_a_line_break_short_ones_left():
    first, second = "INSERT INTO runs VALUES (1, 'run42')", "SELECT * FROM samples WHERE run = 42"
    data = (first.encode("utf-16-le") + "\u00e9t\u00e9ab".encode("utf-16-le") + b"\xff\xfe\x01\x02"
            + second.encode("utf-16-le"))
    assert _direct(data) == [("utf-16", f"{first}\n{second}".encode())]


def test_zeros_random_bytes_and_text_are_not_read():
    rng = random.Random(2)
    for data in (bytes(1 << 20), rng.randbytes(1 << 16), TEXT.encode() * 10, rng.randbytes(4000) + bytes(4000)):
        assert _direct(data) == [], data[:20]
