"""Reads in base85 (Ascii85, RFC 1924's alphabet as git and Python write it), uuencoded, and in a PDF
stream filtered ``[/ASCII85Decode /FlateDecode]`` (as PostScript-born PDFs are), uploaded to an
allowed destination, replay as a leak.  Each replayed clean before: base85 has more symbols than
base64 and fewer than ciphertext, uuencoding other symbols than base64's, and the PDF decoder undid
Flate alone."""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib

import pytest

from sandbox.simulate.novaseq import make_novaseq_run
from tests.hostile.uploads import sequence_leak


def _pdf(stream: bytes, filters: bytes) -> bytes:
    return (b"%PDF-1.4\n1 0 obj\n<< /Length " + str(len(stream)).encode() + b" /Filter " + filters
            + b" >>\nstream\n" + stream + b"\nendstream\nendobj\ntrailer\n<< >>\n%%EOF\n")


def _uu(data: bytes) -> bytes:
    lines = b"".join(binascii.b2a_uu(data[i: i + 45], backtick=True) for i in range(0, len(data), 45))
    return b"Subject: logs\r\n\r\nbegin 644 run.log\n" + lines + b"`\nend\n"


UPLOADS = {
    "ascii85": lambda fq: base64.a85encode(fq, wrapcol=75),
    "rfc 1924 base85": lambda fq: base64.b85encode(fq),
    "ascii85 of gzip": lambda fq: base64.a85encode(gzip.compress(fq), wrapcol=75),
    "uuencoded": _uu,
    "pdf ascii85 flate": lambda fq: _pdf(base64.a85encode(zlib.compress(fq), wrapcol=75) + b"~>",
                                         b"[/ASCII85Decode /FlateDecode]"),
}


@pytest.fixture(scope="module")
def run_fastq(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("b85")
    run = make_novaseq_run(tmp / "runs", samples=1, reads_per_sample=800)
    fastq = sorted((run / "Data" / "Intensities" / "BaseCalls").glob("PT*.fastq.gz"))
    lines = [line for f in fastq for line in gzip.decompress(f.read_bytes()).splitlines()]
    return tmp, run, b"\n".join(lines[:1200]) + b"\n"


@pytest.mark.parametrize("name", UPLOADS)
def test_reads_in_a_text_encoding_replay_as_a_leak(run_fastq, name):
    tmp, run, fq = run_fastq
    sequence_leak(tmp, run, name, UPLOADS[name](fq))
