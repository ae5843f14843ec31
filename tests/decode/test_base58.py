"""base58: tokens a line or between commas read as numbers (leading ``1`` characters zero bytes); base64,
hex, words and digits left to others; a token too long is said not read."""

from __future__ import annotations

import base64
import os

from sandbox.decode.base import Budget
from sandbox.decode.base58 import MAX_TOKEN, Base58Decoder
from tests.decode.test_conformance import _base58


def _decode(data: bytes) -> tuple[dict[str, bytes], list]:
    budget = Budget(1 << 24, "test")
    return dict(Base58Decoder.decode(data, budget)), budget.unread


def test_tokens_a_line_or_between_commas_give_the_bytes():
    blob = b"\x00\x00" + os.urandom(3000)
    assert Base58Decoder.sniff(_base58(blob))
    assert _decode(_base58(blob)) == ({"base58": blob}, [])
    assert _decode(_base58(blob).replace(b"\n", b", "))[0] == {"base58": blob}


def test_other_text_is_left_to_others():
    blob = os.urandom(3000)
    for text in (base64.b64encode(blob), blob.hex().encode(), b"the quick brown fox jumps over " * 10,
                 b"1234567891234567891234 " * 10, _base58(blob).lower()):
        assert not Base58Decoder.sniff(text), text[:40]


def test_a_token_too_long_is_said_not_read():
    long = _base58(os.urandom(2000), size=2000)          # one token of ~2,700 characters
    got, unread = _decode(long + b"\n" + _base58(b"\x01" * 32))
    assert unread and unread[0][1] > MAX_TOKEN and got == {"base58": b"\x01" * 32}
