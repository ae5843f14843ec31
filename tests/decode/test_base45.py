"""Base45 (RFC 9285): its examples, any bytes back exactly, cut views, and what is no base45."""

from __future__ import annotations

import base64
import gzip
import os
import random

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.base45 import ALPHABET, Base45Decoder, alignment, decode_base45
from tests.decode.test_xor import fastq


def base45(data: bytes) -> bytes:
    """RFC 9285's encoding."""
    out = bytearray()
    for i in range(0, len(data) - 1, 2):
        n = data[i] << 8 | data[i + 1]
        out += bytes((ALPHABET[n % 45], ALPHABET[n // 45 % 45], ALPHABET[n // 2025]))
    if len(data) % 2:
        out += bytes((ALPHABET[data[-1] % 45], ALPHABET[data[-1] // 45]))
    return bytes(out)


def test_the_rfc_examples():
    for plain, written in ((b"AB", b"BB8"), (b"Hello!!", b"%69 VD92EX0"), (b"base-45", b"UJCLQE7W581"),
                           (b"ietf!", b"QED8WEX0")):
        assert base45(plain) == written and decode_base45(written) == plain[:len(plain) // 2 * 2]


def test_any_bytes_come_back_exactly():
    rng = random.Random(4)
    for size in (1, 2, 3, 101, 50_000):
        data = rng.randbytes(size)
        assert decode_base45(base45(data)) == data[:size // 2 * 2], size     # (an odd last byte: none)


def test_a_gzip_of_reads_is_reached_through_the_registry():
    reads = fastq(60)
    encoded = b"HC:" + base45(gzip.compress(reads))        # a prefix of its own: read past it
    assert any(v.chain[1:] == ("base45", "gzip") and v.data == reads for v in expand(encoded, ("t",)).views)
    views = expand(base45(gzip.compress(reads)), ("t",)).views
    assert any(v.chain[1:] == ("base45", "gzip") and v.data == reads for v in views)


def test_a_view_cut_anywhere_reads_a_prefix_and_a_bad_group_stops_it():
    data = os.urandom(3000)
    encoded = base45(data)
    for cut in (1, 2, 3, 4, 500, len(encoded) - 1):
        assert data.startswith(decode_base45(encoded[:cut])), cut
    assert decode_base45(encoded[:30] + b"::::::" + encoded[36:]) == data[:20]    # ":::" is 45^3 - 1


def test_the_budget_bounds_the_output():
    budget = Budget(10_000, "test")
    [(label, out)] = Base45Decoder.decode(base45(os.urandom(100_000)), budget)
    assert label == "base45" and len(out) <= 10_000 and budget.hit


@pytest.mark.parametrize("name", ["capitals' prose", "upper hex", "base32", "base64", "digits", "a log"])
def test_other_text_is_no_base45(name):
    rng = os.urandom(4000)
    sample = {"capitals' prose": b"THE RUN FINISHED AT 12:00. THE FLOW CELL WAS WASHED/REUSED: 4 LANES. " * 30,
              "upper hex": rng.hex().upper().encode(), "base32": base64.b32encode(rng).rstrip(b"="),
              "base64": base64.b64encode(rng), "digits": b"0123456789 " * 300,
              "a log": b"2026-12-07 12:00:01 INFO RUN 42 CYCLE 17 TILE 1101 OK\n" * 60}[name]
    assert not Base45Decoder.sniff(sample) and alignment(sample.replace(b"\n", b"")) is None
