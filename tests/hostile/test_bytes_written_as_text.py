"""Run data gzipped, then written the way a program prints bytes it was given no encoding for.

40 kB of reads gzipped and uploaded to the allowed LIMS as Java's signed bytes in JSON (Gson's
``byte[]``), a JavaScript binary string in JSON (``readAsBinaryString``: UTF-8 re-encoding broke the
gzip), a CSV of decimal bytes, a C array (``0x1f, 0x8b, ...``), eight binary digits a byte, Python's
``repr`` in a log line, C's octal escapes, HTML's or XML's character references (``&#31;&#139;``),
basE91, base45 (RFC 9285), yEnc, base62 or base36 (a number a line, or one for the whole file): each
replayed CLEAN.  Each is a leak now; the same forms of
random bytes are no finding.

So did base64 laid out a line at a time: indented under YAML's ``!!binary`` or in pretty-printed XML
(the indentation cut the run at every line, each line decoded alone: a gzip 57 bytes at a time), or a
JSON array of its lines.  Those lines are now read joined.  And so did base64 or hex written in UTF-16
(.NET's ``Encoding.Unicode``, SQL Server's batches): now read a byte a character.  And so did the
bytes as integers of 16, 32 or 64 bits (a ``Uint32Array`` stringified, a column of words): now read as
words in both byte orders when their top bytes vary as packed bytes' do.  And so did base64 cut into
pieces of 64 characters, one a JSON record, an NDJSON line, a JSON key or a log line: each piece was
decoded alone (48 bytes of a gzip); pieces of one path's records, of an object's keys, or of one length
in text, are now read joined.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import struct

import pytest

from sandbox.decode.base62 import BASE62
from sandbox.replay import replay
from tests.decode.test_base45 import base45
from tests.decode.test_base62 import big_numbers
from tests.decode.test_base91 import base91
from tests.decode.test_yenc import yenc
from tests.hostile.uploads import ALLOWED, http_upload


def _lines(data: bytes) -> list[bytes]:
    return base64.encodebytes(data).splitlines()


def _cut(data: bytes, size: int = 64) -> list[str]:
    """``data`` in base64, cut into pieces of ``size`` characters (a record, a line, a key each)."""
    text = base64.b64encode(data).decode()
    return [text[i:i + size] for i in range(0, len(text), size)]


def _words(fmt: str, data: bytes) -> list[int]:
    """``data`` as the integers of ``fmt`` ("<I": little-endian 32-bit), its last one padded with zeros."""
    size = struct.calcsize(fmt)
    padded = data + b"\0" * (-len(data) % size)
    return list(struct.unpack(f"{fmt[0]}{len(padded) // size}{fmt[1]}", padded))


FORMS = {
    "java signed bytes in json": lambda b: json.dumps({"payload": list(struct.unpack(f"{len(b)}b", b))}).encode(),
    "binary string in json": lambda b: json.dumps({"d": b.decode("latin-1")}).encode(),
    "csv of decimal bytes": lambda b: ",".join(map(str, b)).encode(),
    "c array": lambda b: b"const unsigned char dump[] = {" + b", ".join(b"0x%02x" % v for v in b) + b"};\n",
    "bits": lambda b: " ".join(f"{v:08b}" for v in b).encode(),
    "python repr in a log": lambda b: b"2026-12-06 12:00:01 diag body=" + repr(b).encode() + b" rc=0\n",
    "octal escapes": lambda b: "".join(f"\\{v:03o}" for v in b).encode(),
    "html decimal character references": lambda b: "".join(f"&#{v};" for v in b).encode(),
    "base62, 32 bytes a line (an ID scheme's)": lambda b: big_numbers(b, BASE62["base62"]),
    "base36 of 48-byte pieces, a comma between": lambda b: big_numbers(b, b"0123456789abcdefghijklmnopqrstuvwxyz", 48)
    .replace(b"\n", b","),
    "base36, a one before each 32-byte piece (its zeros kept)": lambda b: b"".join(
        big_numbers(b"\x01" + b[i:i + 32], b"0123456789abcdefghijklmnopqrstuvwxyz", 33) for i in range(0, len(b), 32)),
    "base62 of the whole file, one number": lambda b: big_numbers(b, BASE62["lower-first base62"], len(b)),
    "basE91 in lines": lambda b: b"\n".join(base91(b)[i:i + 76] for i in range(0, len(base91(b)), 76)),
    "base45 behind a prefix (a health certificate's)": lambda b: b"HC1:" + base45(b),
    "yEnc (a Usenet binary)": lambda b: yenc(b, "diag.bin"),
    "xml hex character references in a document": lambda b: (b"<?xml version='1.0'?><diag><blob>"
                                                             + "".join(f"&#x{v:x};" for v in b).encode()
                                                             + b"</blob></diag>"),
    "yaml binary": lambda b: b"run: 42\ndump: !!binary |\n" + b"".join(b"  " + line + b"\n" for line in _lines(b)),
    "xml indented base64": lambda b: (b"<diag>\n  <blob>\n" + b"".join(b"    " + line + b"\r\n" for line in _lines(b))
                                      + b"  </blob>\n</diag>\n"),
    "json array of base64 lines": lambda b: json.dumps({"chunks": [line.decode() for line in _lines(b)]}).encode(),
    "base64 in utf-16": lambda b: base64.b64encode(b).decode().encode("utf-16-le"),       # .NET's Encoding.Unicode
    "hex in an sql batch in utf-16": lambda b: f"INSERT INTO dumps VALUES (0x{b.hex()})".encode("utf-16-le"),
    "uint32 words in json": lambda b: json.dumps({"d": _words("<I", b)}).encode(),   # a Uint32Array stringified
    "int16 words in json": lambda b: json.dumps({"d": _words("<h", b)}).encode(),
    "64-bit words a line": lambda b: "\n".join(map(str, _words(">Q", b))).encode(),
    "uint16 words in a csv": lambda b: ",".join(map(str, _words(">H", b))).encode(),
    "json records of base64 chunks": lambda b: json.dumps([{"i": i, "c": c} for i, c in enumerate(_cut(b))]).encode(),
    "ndjson lines of base64 chunks": lambda b: b"\n".join(json.dumps({"i": i, "c": c}).encode()
                                                           for i, c in enumerate(_cut(b))),
    "json keys of base64 chunks": lambda b: json.dumps({c: i for i, c in enumerate(_cut(b))}).encode(),
    "a form value of base64 sent unescaped": lambda b: b"device=NS-1&data=" + base64.b64encode(b) + b"&n=1",
    "log lines of base64 chunks": lambda b: "\n".join(f"2026-12-07T04:00:{i % 60:02d} INFO upload part {i}: {c}"
                                                      for i, c in enumerate(_cut(b))).encode(),
}


def _findings(report: dict) -> list[tuple[str, str]]:
    return [(f["kind"], f["severity"]) for f in report["findings"]]


@pytest.mark.parametrize("form", FORMS)
def test_gzipped_reads_written_as_text_are_a_leak(reads, form):
    tmp, run, fastq = reads
    capture = tmp / f"as-text-{form.replace(' ', '-')}.pcap"
    http_upload(capture, FORMS[form](gzip.compress(fastq, mtime=0)))
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", form
    assert any(kind in ("run-bytes", "sequence") and severity in ("high", "critical")
               for kind, severity in _findings(report)), form


@pytest.mark.parametrize("form", FORMS)
def test_random_bytes_written_so_are_no_finding(reads, form):
    tmp, run, _ = reads
    capture = tmp / f"random-{form.replace(' ', '-')}.pcap"
    http_upload(capture, FORMS[form](gzip.compress(os.urandom(30000), mtime=0)))
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "clean" and not report["findings"], (form, _findings(report))
