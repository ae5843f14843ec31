"""Multipart bodies as raw bytes: form uploads without headers, and MIME e-mail messages; the
streaming splitter the HTTP parsers use is the same code, so both give the same labels."""

from __future__ import annotations

import gzip
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from urllib3.filepost import encode_multipart_formdata

from sandbox.decode import expand
from sandbox.decode.multipart import MultipartDecoder

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
