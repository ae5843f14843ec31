"""Base64 or hex of a gzip of reads inside a binary document, uploaded to an allowed destination, replays
as a leak.

Base64 and hex were looked for only in views that look like text: a MessagePack document (what many
telemetry SDKs send) with the base64 of a gzip of 40 kB of reads in a string, or in strings of 1,000
characters each, and base64 or hex between random binary bytes, replayed clean.  Now a binary view is
searched for runs of either too (one C pass: 2.9 GB/s).

Records of a binary header and a line of the encoding each (a length and a sequence number, or random
bytes) replayed clean as well: a header's bytes are letters by chance, so each record's run started or
ended a few letters off and decoded at a wrong alignment.  Now runs a record's size apart are cut to
the line most of them hold and read joined."""

from __future__ import annotations

import base64
import gzip
import random
import struct

import msgpack
import pytest

from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    unrelated_reads,
    upload_report,
)


def _telemetry(encoded: bytes) -> bytes:
    rng = random.Random(4)
    return msgpack.packb({"device": "NS-1", "t": 1733550000, "blob": encoded.decode(),
                          "fan": [rng.random() for _ in range(50)]})


def _chunks(encoded: bytes) -> bytes:
    rng = random.Random(5)
    return msgpack.packb([{"i": i, "chunk": encoded[i:i + 1000].decode(), "crc": rng.getrandbits(32)}
                          for i in range(0, len(encoded), 1000)])


def _records(encoded: bytes, width: int, noise: int, seed: int, header: str = "") -> bytes:
    """A record a line of ``width`` characters, each after a header: its length or number packed as
    ``header`` says (``struct``: "I" the length, "H" the number), then ``noise`` random bytes."""
    rng = random.Random(seed)
    lines = [encoded[i:i + width] for i in range(0, len(encoded), width)]
    heads = [struct.pack(f">{header}", len(line) if header == "I" else n) if header else b"" for n, line in enumerate(lines)]
    return b"".join(head + rng.randbytes(noise) + line for head, line in zip(heads, lines, strict=True))


DOCUMENTS = {
    "a MessagePack string of base64": lambda gz: _telemetry(base64.b64encode(gz)),
    "MessagePack strings of base64, 1,000 characters each": lambda gz: _chunks(base64.b64encode(gz)),
    "base64 between binary bytes": lambda gz: random.Random(6).randbytes(300) + base64.b64encode(gz)
    + random.Random(7).randbytes(300),
    "hex between binary bytes": lambda gz: random.Random(8).randbytes(300) + gz.hex().encode()
    + random.Random(9).randbytes(300),
    "records of base64 lines after a length and 8 random bytes": lambda gz: _records(base64.b64encode(gz), 76, 8, 10, "I"),
    "records of base64 lines after 6 random bytes": lambda gz: _records(base64.b64encode(gz), 64, 6, 11),
    "records of base64 lines after 2 random bytes": lambda gz: _records(base64.b64encode(gz), 40, 2, 12),
    "records of hex lines after a number and 4 random bytes": lambda gz: _records(gz.hex().encode(), 152, 4, 13, "H"),
    "records of hex lines after 6 random bytes": lambda gz: _records(gz.hex().encode(), 64, 6, 14),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "binary-documents")


@pytest.mark.parametrize("name", DOCUMENTS)
def test_an_encoded_gzip_of_reads_in_a_binary_document_replays_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    assert_content_leak(upload_report(tmp, run, name, DOCUMENTS[name](gzip.compress(reads))), name)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_same_of_other_bytes_finds_nothing(run_reads, name):
    tmp, run, _ = run_reads
    for data in (gzip.compress(unrelated_reads(name)), random.Random(name).randbytes(30000)):
        report = upload_report(tmp, run, f"other {name}", DOCUMENTS[name](data))
        assert_no_content(report, name)
