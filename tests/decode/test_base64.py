"""base64 special cases: url-safe without padding, MIME line breaks, runs inside text."""

from __future__ import annotations

import base64
import gzip
import os
import random

import pytest

from sandbox.decode import expand
from sandbox.decode.base64 import Base64Decoder

CHAIN = ("tcp",)
BLOB = os.urandom(300) + b"Sample_ID=NA12878;Run=A00123_0049"


def _views(data: bytes) -> dict[tuple[str, ...], bytes]:
    return {v.chain: v.data for v in expand(data, CHAIN).views}


def test_urlsafe_without_padding():
    data = base64.urlsafe_b64encode(BLOB[:-1]).rstrip(b"=")
    assert b"-" in data or b"_" in data
    assert _views(data)[CHAIN + ("base64",)] == BLOB[:-1]


def test_standard_with_crlf_line_breaks():
    data = base64.encodebytes(BLOB * 3).replace(b"\n", b"\r\n")
    assert data.count(b"\r\n") > 3
    assert _views(data)[CHAIN + ("base64",)] == BLOB * 3


def test_pem_style_64_columns():
    raw = base64.b64encode(BLOB * 2)
    data = b"\n".join(raw[i : i + 64] for i in range(0, len(raw), 64)) + b"\n"
    assert _views(data)[CHAIN + ("base64",)] == BLOB * 2


def test_run_inside_a_log_line_has_its_offset():
    blob = gzip.compress(b"ACGT" * 500, mtime=0)
    encoded = base64.b64encode(blob)
    line = b"2024-05-01 12:00:00 upload ok payload=" + encoded + b" took 12ms\n"
    views = _views(line)
    at = line.index(encoded)
    assert views[CHAIN + (f"base64@{at}",)] == blob
    assert views[CHAIN + (f"base64@{at}", "gzip")] == b"ACGT" * 500


def test_urlsafe_run_between_a_path_s_slashes():
    encoded = base64.urlsafe_b64encode(BLOB + b"\xfb\xff\xfe").rstrip(b"=")
    assert b"-" in encoded or b"_" in encoded
    line = b'{"beacon": "https://lims.example/t/' + encoded + b'/p.gif", "n": 3}'
    at = line.index(encoded)
    assert _views(line)[CHAIN + ("json:$.beacon", f"base64@{at - line.index(b'https')}")] == BLOB + b"\xfb\xff\xfe"


@pytest.mark.parametrize("indent", [b"  ", b"      ", b"\t\t"])
def test_indented_lines_are_one_block(indent):
    """YAML's !!binary and pretty-printed XML indent each line: the lines are read joined, a line of a
    compressed stream's zeros (all "A", no digit) and a last line too short to be a run included."""
    packed = gzip.compress(b"@r1\nACGT\n+\nFFFF\n" * 3000 + os.urandom(300), mtime=0)
    blob = packed + bytes(114 + (6 - len(packed) - 114) % 57)     # zeros after: whole lines of "A", 8 left
    lines = base64.encodebytes(blob).splitlines()
    assert lines[-2] == b"A" * 76 and len(lines[-1]) < 24
    doc = b"run: 42\ndump: !!binary |\n" + b"".join(indent + line + b"\r\n" for line in lines) + b"end: 1\n"
    views = _views(doc)
    assert views[CHAIN + (f"base64@{doc.index(lines[0])}",)] == blob
    assert views[CHAIN + (f"base64@{doc.index(lines[0])}", "gzip")].startswith(b"@r1\nACGT")


def test_indented_lines_of_other_widths_or_words_are_no_block():
    words = b"".join(b"  %s\n" % w for w in (b"configurationParameterNameA1", b"anotherRatherLongIdentifier2",
                                              b"short"))
    assert not [label for label, _ in Base64Decoder.decode(words, None) if label == "base64@2"]


def test_mime_block_inside_a_message():
    body = base64.encodebytes(BLOB * 4).replace(b"\n", b"\r\n")
    message = b"Subject: run\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body + b"\r\n.\r\n"
    views = expand(message, CHAIN).views
    assert any(v.data == BLOB * 4 for v in views), [v.chain for v in views]


def test_words_and_identifiers_are_not_base64():
    text = b"function_name_with_underscores ThisIsACamelCaseIdentifier /usr/local/lib/python3/site\n" * 10
    assert list(Base64Decoder.decode(text, None)) == []


def test_hex_is_left_to_the_hex_decoder():
    assert list(Base64Decoder.decode(b"0123456789abcdef" * 4, None)) == []


def test_header_words_on_the_next_line_are_not_glued_on():
    head = (
        b"Content-Type: multipart/form-data; boundary=---------------------------887112469033623\r\n"
        b"User-Agent: Mozilla/5.0\r\nAuthorization: BEARER 1gsho83nt3bkmykh5aynw6kzgy\r\nIf-None-Match: \r\n\r\n"
    )
    assert list(Base64Decoder.decode(head, None)) == []


def test_a_run_inside_binary_bytes_is_read():
    """A MessagePack string, a field after a binary header: the view is no text, and base64 was looked for
    only in text (a gzip of reads in a MessagePack document's string replayed clean)."""
    encoded = base64.b64encode(BLOB)
    document = b"\x83\xa6device\xa4NS-1\xa1t\xce\x00\x0009\xa4blob\xda" + len(encoded).to_bytes(2, "big") + encoded
    assert BLOB in _views(document + b"\xa3fan\x92\xcb@>\x00\x00\x00\x00\x00\x00").values()
    for seed in range(32):     # the bytes around it letters by chance (a quarter of them): it is read all the same
        rng = random.Random(seed)
        views = _views(rng.randbytes(3000) + encoded + rng.randbytes(3000)).values()
        assert any(BLOB in view for view in views), seed     # letters around it: bytes more


def test_random_bytes_hold_no_run():
    for seed in range(4):
        data = random.Random(seed).randbytes(1 << 20)
        assert not Base64Decoder.sniff(data)
        assert not [v.chain for v in expand(data, CHAIN).views if "base64" in v.chain[-1]]


def test_pieces_of_one_length_in_text_are_read_joined():
    """A chunk a log line: each piece of 64 characters was decoded alone (48 bytes of a gzip)."""
    rng = random.Random(4)
    bases = bytes(rng.choice(b"ACGT") for _ in range(4000))
    text = base64.b64encode(gzip.compress(bases)).decode()
    lines = "\n".join(f"2026-12-07 INFO part {i}: {text[i:i + 64]}" for i in range(0, len(text), 64)).encode()
    views = _views(lines)
    assert [chain for chain, data in views.items() if data == bases][0][1].startswith("base64 joined@")
    few = "\n".join(f"token {text[i:i + 64]}" for i in (0, 64)).encode()       # two pieces: no join
    assert not [c for c in _views(few) if "joined" in c[-1]]
