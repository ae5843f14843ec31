"""base85: the three alphabets as whole views, Adobe's delimited runs inside text, what is no base85."""

from __future__ import annotations

import base64
import json
import os
import random

from sandbox.decode import Budget, expand
from sandbox.decode.base85 import Base85Decoder

CHAIN = ("tcp",)
rng = random.Random(11)
READS = "".join(f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(150))}\n+\n{'F' * 150}\n"
                for i in range(200)).encode()
# ZeroMQ's Z85 alphabet over the same base-85 digits as RFC 1924's
B85 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
Z85 = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def _decoded(data: bytes) -> list[bytes]:
    return [v.data for v in expand(data, CHAIN).views if v.chain[1:] == ("base85",)]


def test_ascii85_rfc1924_and_z85_whole_views():
    z85 = base64.b85encode(READS[: len(READS) // 4 * 4]).translate(bytes.maketrans(B85, Z85))
    assert _decoded(base64.a85encode(READS, wrapcol=76)) == [READS]
    assert _decoded(base64.b85encode(READS)) == [READS]
    assert _decoded(z85) == [READS[: len(READS) // 4 * 4]]


def test_base85_inside_json_and_delimited_runs_inside_text():
    doc = json.dumps({"blob": base64.b85encode(READS).decode()}).encode()
    assert [v.data for v in expand(doc, CHAIN).views if v.chain[-1] == "base85"] == [READS]
    log = b"2026-12-06 upload ok payload=<~" + base64.a85encode(READS[:600]) + b"~> done\n"
    assert _decoded(log) == [READS[:600]]


def test_what_is_no_base85():
    prose = b"The sequencer uploads its run metrics to the vendor portal every night. " * 40
    for data in (prose, base64.b64encode(os.urandom(3000)), os.urandom(3000).hex().encode(),
                 json.dumps({"k": [rng.random() for _ in range(300)]}).encode(),
                 base64.b85encode(os.urandom(100))):  # shorter than 256 symbols, no delimiters
        assert not Base85Decoder.sniff(data) or not list(Base85Decoder.decode(data, Budget(1 << 20, "t")))


def test_zero_groups_are_bounded_by_the_budget():
    data = b"<~" + b"z" * 100_000 + b"~>"
    budget = Budget(40_000, "test budget")
    ((_, out),) = list(Base85Decoder.decode(data, budget))
    assert out == bytes(40_000) and budget.hit == "test budget"
