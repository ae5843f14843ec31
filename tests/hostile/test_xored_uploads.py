"""Reads XOR-ed with a repeating key before they leave: one byte of key was read (four other symbols
for the bases), two bytes or more replayed clean, whatever the key (a key of 2 to 4,096 bytes over a
NovaSeq run's FASTQ text, to the allowed LIMS).  Now keys of 2 to 64 bytes are undone and the upload
is a leak naming the sample; keys of 100, 300 or 1,000 bytes replayed clean still (weighed as
ciphertext to an allowed place), and are undone now too (see ``sandbox.decode.xor``)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED, http_upload


def keyed(data: bytes, key: bytes) -> bytes:
    return (np.frombuffer(data, np.uint8) ^ np.resize(np.frombuffer(key, np.uint8), len(data))).tobytes()


KEYS = {
    "2 bytes": bytes.fromhex("a55a"),
    "4 bytes": b"\xde\xad\xbe\xef",
    "16 bytes": random.Random(16).randbytes(16),
    "64 bytes": random.Random(64).randbytes(64),
    "100 bytes": random.Random(100).randbytes(100),
    "300 bytes": random.Random(300).randbytes(300),
    "1000 bytes": random.Random(1000).randbytes(1000),
    # bytes under 0x20: the reads stay letters ("A" XOR 2 is "C"), shuffled at each position
    "printable, 9 bytes": bytes([2, 6, 0x15, 4, 0x13, 0x17, 1, 3, 5]),
}


@pytest.mark.parametrize("key", KEYS)
def test_reads_under_a_repeating_key_are_a_leak(reads, key):
    tmp, run, fastq = reads
    capture = tmp / f"xor-{len(KEYS[key])}.pcap"
    http_upload(capture, keyed(fastq, KEYS[key]))
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", key
    # the FASTQ comes back byte for byte: the run's own file, matched as bytes
    [leak] = report["findings"]
    assert leak["kind"] == "run-bytes" and leak["samples"] == ["PT5699-T1"] and leak["bytes_matched"] > 0.9 * len(fastq)
    assert leak["chain"] == ["tcp", "http/1.1 POST /up", f"xor ({len(KEYS[key])}-byte key)"]
