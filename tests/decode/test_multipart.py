"""Multipart bodies as raw bytes: form uploads without headers, and MIME e-mail messages; the
streaming splitter the HTTP parsers use is the same code, so both give the same labels."""

from __future__ import annotations

import gzip
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from urllib3.filepost import encode_multipart_formdata

from sandbox.decode import expand
from sandbox.decode.multipart import MultipartDecoder, MultipartSplitter, boundary_of

CHAIN = ("tcp",)
READS = b"@r1\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" * 20


def test_form_upload_parts_by_name():
    body, _ = encode_multipart_formdata(
        {
            "meta": '{"run": "A00123_0049_AH2CLFDMXX"}',
            "file": ("r.fastq.gz", gzip.compress(READS), "application/gzip"),
        }
    )
    views = {v.chain: v.data for v in expand(body, CHAIN).views}
    assert views[CHAIN + ("multipart:file=r.fastq.gz", "gzip")] == READS
    assert views[CHAIN + ("multipart:name=meta",)] == b'{"run": "A00123_0049_AH2CLFDMXX"}'


def test_mime_message_with_base64_attachment():
    msg = MIMEMultipart()
    msg["Subject"] = "nightly"
    msg.attach(MIMEText("see attachment"))
    msg.attach(MIMEApplication(gzip.compress(READS), Name="reads.fastq.gz"))
    data = msg.as_bytes()
    views = {v.chain: v.data for v in expand(data, CHAIN).views}
    assert any(chain[-2:] == ("base64", "gzip") and d == READS for chain, d in views.items()), list(views)
    assert any(chain[-3:] == ("multipart:file=reads.fastq.gz", "base64", "gzip") for chain in views), list(views)
    assert views[CHAIN + ("multipart:part=1",)] == b"see attachment"


def test_cut_body_marks_last_part_truncated():
    body, _ = encode_multipart_formdata({"file": ("r.fastq", READS, "text/plain")})
    got = list(MultipartDecoder.decode(body[: len(body) // 2], None))
    assert len(got) == 1 and got[0][0] == "multipart:file=r.fastq(truncated)" and READS.startswith(got[0][1])


def test_dashes_alone_are_not_multipart():
    assert not MultipartDecoder.sniff(b"-- \nsignature line\n")
    assert not MultipartDecoder.sniff(b"---------- just a ruler ----------\n")


def _split(body: bytes, boundary: bytes, step: int) -> list[tuple[tuple[str, ...], bytes, int]]:
    """What the streaming splitter (the HTTP parsers' sink) emits when fed ``step`` bytes at a time."""
    parts: list[tuple[tuple[str, ...], bytes, int]] = []
    splitter = MultipartSplitter(boundary, lambda d, s, m, o: parts.append((s, d, o)))
    for i in range(0, len(body), step):
        splitter.feed(body[i : i + step])
    splitter.end()
    return parts


def _form() -> tuple[bytes, bytes]:
    body, ctype = encode_multipart_formdata(
        {"run": "A00123_0049", "file": ("r.fastq.gz", gzip.compress(READS, mtime=0), "application/gzip")}
    )
    return body, boundary_of(ctype.encode())


@pytest.mark.parametrize("step", [1, 7, 61, 4096, 10**9])
def test_streamed_and_whole_give_the_same_parts_and_labels(step):
    """HTTP (streaming, any chunking) and the decoders (whole bytes) split with one code."""
    body, boundary = _form()
    streamed = _split(body, boundary, step)
    whole = list(MultipartDecoder.decode(body, None))
    assert [(s[0], d) for s, d, _ in streamed] == whole
    assert [label for label, _ in whole] == ["multipart:name=run", "multipart:file=r.fastq.gz"]
    assert [body[o : o + len(d)] == d for _, d, o in streamed] == [True, True]  # offsets in the body


def test_a_mail_with_nested_multipart_and_encoded_names():
    msg = MIMEMultipart("mixed")
    msg["Subject"] = "run report"
    alt = MIMEMultipart("alternative")
    alt.attach(MIMEText("plain body"))
    alt.attach(MIMEText("<p>html body</p>", "html"))
    msg.attach(alt)
    att = MIMEApplication(b"Sample_ID\nS1\n", Name="x")
    att.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "Pröben.csv"))
    msg.attach(att)
    mime = MIMEApplication(READS)
    mime.add_header("Content-Disposition", "attachment", filename="=?UTF-8?B?cmVhZHMuZnE=?=")
    msg.attach(mime)
    views = {v.chain: v.data for v in expand(msg.as_bytes(), CHAIN).views}
    assert views[CHAIN + ("multipart:part=1.1",)] == b"plain body"  # inside multipart/alternative
    assert views[CHAIN + ("multipart:part=1.2",)] == b"<p>html body</p>"
    assert views[CHAIN + ("multipart:file=Pröben.csv", "base64")] == b"Sample_ID\nS1\n"
    assert views[CHAIN + ("multipart:file=reads.fq", "base64")] == READS


def test_lf_only_delimiters_and_a_part_without_headers():
    body = b"--xyz\n\nno headers here\n--xyz\nContent-Disposition: form-data; name=a\n\nvalue a\n--xyz--\n"
    got = list(MultipartDecoder.decode(body, None))
    assert got == [("multipart:part=1", b"no headers here"), ("multipart:name=a", b"value a")]


def test_a_flood_of_parts_stops_splitting_and_keeps_the_rest():
    from sandbox.decode.multipart import MAX_PARTS

    body = b"".join(b"--b\r\nContent-Disposition: form-data; name=f%d\r\n\r\nv\r\n" % i for i in range(MAX_PARTS + 50))
    parts = _split(body + b"--b--\r\n", b"b", 10**9)
    assert len(parts) == MAX_PARTS + 1 and parts[-1][0] == ("multipart:rest",)
    assert b"name=f%d" % (MAX_PARTS + 49) in parts[-1][1]  # nothing dropped


@pytest.mark.parametrize("step", [1, 13, 10**9])
def test_nested_parts_have_their_offsets_in_the_outer_body(step):
    msg = MIMEMultipart("mixed", boundary="outer")
    alt = MIMEMultipart("alternative", boundary="inner")
    alt.attach(MIMEText("plain body"))
    alt.attach(MIMEText("<p>html</p>", "html"))
    msg.attach(alt)
    msg.attach(MIMEText("after the nested part"))
    raw = msg.as_bytes()
    body = raw[raw.index(b"\n\n") + 2 :]
    parts = _split(body, b"outer", step)
    assert [(s, d) for s, d, _ in parts] == [(("multipart:part=1.1",), b"plain body"),
                                             (("multipart:part=1.2",), b"<p>html</p>"),
                                             (("multipart:part=2",), b"after the nested part")]
    assert all(body[o : o + len(d)] == d for _, d, o in parts)


def test_long_part_names_are_a_view_of_their_own_short_ones_are_not():
    read = "ACGTTGCAACGTTGCAACGTTGCAACGTTGCAACGTTGCA"
    body, _ = encode_multipart_formdata({"f": (f"{read}.txt", b"ok"), "g": ("r.fastq", b"ok")})
    names = [v for v in expand(body, CHAIN).views if v.chain[-1].endswith(" > names")]
    assert [v.data for v in names] == [f"{read}.txt\nf".encode()]
    assert read not in names[0].chain[-1]          # a read-like name is redacted in the label


def test_a_body_cut_inside_a_parts_headers_is_named_by_its_number():
    cut = b"--abc\r\nContent-Disposition: form-data; name=x"
    assert list(MultipartDecoder.decode(cut, None)) == [("multipart:part=1(truncated)", cut[7:])]


@pytest.mark.parametrize("step", [1, 7, 61, 4096, 10**9])
def test_what_the_preamble_and_the_epilogue_carry_is_read(step):
    """They carry nothing by definition and were dropped: a gzip of reads after a form's closing
    delimiter (or before its first) was read by nobody, in an HTTP upload or as bytes.  Line breaks
    alone are no part."""
    body, boundary = _form()
    stream = gzip.compress(READS[::-1])
    hidden = b"preamble\r\n" + stream + b"\r\n" + body + stream
    parts = _split(hidden, boundary, step)
    assert [(s[0], d) for s, d, _ in parts][1:] == list(MultipartDecoder.decode(body + stream, None))
    assert [s[0] for s, _, _ in parts] == ["multipart:preamble", "multipart:name=run", "multipart:file=r.fastq.gz",
                                          "multipart:epilogue"]
    assert parts[0][1] == b"preamble\r\n" + stream + b"\r\n" and parts[-1][1] == b"\r\n" + stream
    assert [hidden[o : o + len(d)] == d for _, d, o in parts] == [True] * 4
    assert [s[0] for s, _, _ in _split(b"\r\n\r\n" + body + b"\r\n", boundary, step)] == \
        ["multipart:name=run", "multipart:file=r.fastq.gz"]


def test_a_body_that_never_names_its_boundary_is_one_part():
    """An upload declared multipart whose boundary never comes was dropped whole (all of it preamble)."""
    parts = _split(READS, b"never-there", 61)
    assert [(s, d) for s, d, _ in parts] == [(("multipart:preamble",), READS)]
