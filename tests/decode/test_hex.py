"""Hex: whole views, runs in text, and what is not hex."""

from __future__ import annotations

import binascii
import os
import random

from sandbox.decode import expand
from sandbox.decode.hex import HexDecoder

CHAIN = ("tcp",)
BLOB = os.urandom(64)


def test_whole_view_upper_and_lower():
    for data in (binascii.hexlify(BLOB), binascii.hexlify(BLOB).upper()):
        assert {v.chain: v.data for v in expand(data, CHAIN).views}[CHAIN + ("hex",)] == BLOB


def test_hexdump_with_spaces_and_colons():
    data = b" ".join(binascii.hexlify(BLOB[i : i + 1]) for i in range(len(BLOB)))
    assert dict(HexDecoder.decode(data, None)) == {"hex": BLOB}
    data = b":".join(binascii.hexlify(BLOB[i : i + 1]) for i in range(len(BLOB)))
    assert dict(HexDecoder.decode(data, None)) == {"hex": BLOB}


def test_run_in_a_log_line():
    encoded = binascii.hexlify(BLOB)
    line = b"INFO sent chunk=" + encoded + b" ok\n"
    assert dict(HexDecoder.decode(line, None)) == {f"hex@{line.index(encoded)}": BLOB}


def test_not_hex():
    assert list(HexDecoder.decode(b"DeadBeefCafe0123DeadBeefCafe0123DeadBeefCafe0123", None)) == []
    quality = b"AAAAAEEEEEEEEEEEEEEEEEEEEE6EEEEEEEEEEEEEAEEEEEEEEEEEEE<EEEE\n"
    assert list(HexDecoder.decode(quality * 10, None)) == []
    assert list(HexDecoder.decode(b"ACCACACCAACACACC" * 8 + b"\n", None)) == []  # DNA without G/T


def test_a_run_inside_binary_bytes_is_read():
    """Hex after a binary header, or among binary fields, was looked for only in text."""
    for seed in range(32):     # a byte before it a hex digit by chance: read from both starts
        rng = random.Random(seed)
        data = rng.randbytes(3000) + binascii.hexlify(BLOB) + rng.randbytes(3000)
        assert HexDecoder.sniff(data) and any(BLOB in v.data for v in expand(data, CHAIN).views), seed
    assert not HexDecoder.sniff(os.urandom(1 << 20))


def test_runs_of_one_length_are_read_joined():
    """Hex cut 60 characters a line, each behind a word: each run alone is 30 bytes; joined in order (the
    shorter last one after them) they are the whole."""
    secret = random.Random(7).randbytes(345)
    hexed = secret.hex().encode()
    text_ = b"".join(b"line %02d: %s\n" % (n, hexed[i:i + 60]) for n, i in enumerate(range(0, len(hexed), 60)))
    joined = [data for label, data in HexDecoder.decode(text_, None) if label.startswith("hex joined@")]
    assert joined == [secret]
