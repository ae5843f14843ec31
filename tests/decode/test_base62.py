"""base62 (both orders) and base36: tokens back exactly, pieces of one length, leading zeros, and what
is left to other decoders (base58, hex, base32, words)."""

from __future__ import annotations

import base64
import gzip
import os
import random

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.base62 import BASE62, Base36Decoder, Base62Decoder
from tests.decode.test_xor import fastq

BASE36 = b"0123456789abcdefghijklmnopqrstuvwxyz"


def big_numbers(data: bytes, alphabet: bytes, size: int = 32, zeros: bool = False) -> bytes:
    """``data`` as numbers in ``alphabet``, ``size`` bytes a token, a token a line; ``zeros``: a leading
    zero byte written as the alphabet's zero (base58's way), else lost."""
    lines = []
    for at in range(0, len(data), size):
        piece = data[at:at + size]
        value, text = int.from_bytes(piece, "big"), b""
        while value:
            value, digit = divmod(value, len(alphabet))
            text = alphabet[digit:digit + 1] + text
        lines.append(alphabet[:1] * (len(piece) - len(piece.lstrip(b"\0"))) * zeros + text or alphabet[:1])
    return b"\n".join(lines) + b"\n"


def _read(decoder, text: bytes) -> dict[str, bytes]:
    return dict(decoder.decode(text, Budget(1 << 30, "test"))) if decoder.sniff(text) else {}


@pytest.mark.parametrize("order", BASE62)
@pytest.mark.parametrize("zeros", [False, True])
def test_base62_tokens_come_back_exactly_in_either_order(order, zeros):
    data = os.urandom(5000) + bytes(40) + os.urandom(999)       # zero bytes leading some pieces
    assert _read(Base62Decoder, big_numbers(data, BASE62[order], zeros=zeros))[order] == data


@pytest.mark.parametrize("case", [bytes.lower, bytes.upper])
def test_base36_tokens_come_back_exactly_in_either_case(case):
    data = os.urandom(3000)
    assert _read(Base36Decoder, case(big_numbers(data, BASE36))) == {"base36": data}


def test_a_one_before_each_piece_is_dropped():
    """(An encoder's way to keep a piece's leading zeros: a byte of one before it.)"""
    data = os.urandom(4000) + bytes(64) + os.urandom(100)
    marked = b"".join(big_numbers(b"\x01" + data[i:i + 32], BASE36, size=33) for i in range(0, len(data), 32))
    assert _read(Base36Decoder, marked) == {"base36": data}


def test_one_number_for_the_whole_view_and_a_gzip_through_the_registry():
    reads = fastq(40)
    compressed = gzip.compress(reads)
    text = big_numbers(compressed, BASE62["base62"], size=len(compressed))
    assert _read(Base62Decoder, text)["base62"] == compressed
    views = expand(big_numbers(compressed, BASE36, size=24), ("t",)).views
    assert any(v.chain[1:] == ("base36", "gzip") and v.data == reads for v in views)


def test_the_budget_bounds_the_output_and_long_tokens_are_said_not_read():
    budget = Budget(1000, "test")
    [(_, out)] = Base36Decoder.decode(big_numbers(os.urandom(50_000), BASE36), budget)
    assert len(out) <= 1000
    budget = Budget(1 << 30, "test")
    text = big_numbers(os.urandom(60_000), BASE36, size=60_000) + big_numbers(os.urandom(64), BASE36)
    list(Base36Decoder.decode(text, budget))
    assert budget.unread and "base36 token of more than" in budget.unread[0][0]


BENIGN = {
    "base58": lambda d: big_numbers(d, b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"),
    "hex": lambda d: d.hex().encode(),
    "base32": lambda d: base64.b32encode(d).rstrip(b"="),
    "base64": base64.b64encode,
    "decimal numbers": lambda d: b"\n".join(str(int.from_bytes(d[i:i + 16], "big")).encode() for i in range(0, 4000, 16)),
    "words": lambda d: b"the quick brown fox jumps over the lazy dog " * 50,
    "identifiers": lambda d: b" ".join(f"SampleIdentifierNumber{i:04d}".encode() for i in range(200)),
}


@pytest.mark.parametrize("name", BENIGN)
def test_other_text_is_left_to_its_own_decoders(name):
    text = BENIGN[name](random.Random(name).randbytes(4000))
    assert not Base62Decoder.sniff(text) and not Base36Decoder.sniff(text), name
