"""Reads, or a gzip of them, written in a text encoding's other alphabets, uploaded to an allowed
destination, replay as a leak.  Each replayed clean before (and no byte of it said not examined):
RFC 4648's base32hex, Crockford's base32 (ULIDs), z-base-32, hex in sixteen other letters (in order,
or shuffled), base32 in a range of 32 other characters, base64 in crypt's alphabet (``./0-9A-Za-z``,
bcrypt's and the Unix password hashes'), base58 (Bitcoin's, IPFS's) a token a line: no decoder read the
text, and text is no ciphertext."""

from __future__ import annotations

import base64
import gzip
import random
import string

import pytest

from tests.decode.test_conformance import _base58
from tests.hostile.uploads import (
    assert_content_leak,
    assert_no_content,
    run_and_reads,
    upload_report,
)

RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
BASE64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
SHUFFLED_HEX = "".join(random.Random(3).sample("qwertyuiopasdfgh", 16))


def _base32(alphabet: str, lower: bool = False):
    def encode(data: bytes) -> bytes:
        text = base64.b32encode(data).rstrip(b"=").translate(bytes.maketrans(RFC4648.encode(), alphabet.encode()))
        return text.lower() if lower else text
    return encode


def _hex(alphabet: str):
    return lambda data: data.hex().translate(str.maketrans("0123456789abcdef", alphabet)).encode()


def _wrapped(text: bytes, width: int = 76) -> bytes:
    return b"\n".join(text[i:i + width] for i in range(0, len(text), width)) + b"\n"


ENCODINGS = {
    "base32hex of gzip": lambda d: _base32("0123456789ABCDEFGHIJKLMNOPQRSTUV")(gzip.compress(d)),
    "crockford base32 of gzip": lambda d: _base32("0123456789ABCDEFGHJKMNPQRSTVWXYZ", lower=True)(gzip.compress(d)),
    "z-base-32 of gzip": lambda d: _base32("ybndrfg8ejkmcpqxot1uwisza345h769")(gzip.compress(d)),
    "hex in other letters of gzip": lambda d: _hex("ghijklmnopqrstuv")(gzip.compress(d)),
    "hex in shuffled letters": lambda d: _hex(SHUFFLED_HEX)(d),
    "base32 in a range of other characters of gzip": lambda d: _wrapped(_base32(
        "".join(map(chr, range(0x40, 0x60))))(gzip.compress(d))),
    "base58 of gzip, 32 bytes a token a line": lambda d: _base58(gzip.compress(d)),
    "crypt base64 of gzip": lambda d: _wrapped(base64.b64encode(gzip.compress(d)).rstrip(b"=").translate(
        bytes.maketrans(BASE64.encode(), b"./" + (string.digits + string.ascii_uppercase
                                                  + string.ascii_lowercase).encode()))),
}


@pytest.fixture(scope="module")
def run_reads(tmp_path_factory):
    return run_and_reads(tmp_path_factory, "alphabets")


@pytest.mark.parametrize("name", ENCODINGS)
def test_reads_in_another_alphabet_replay_as_a_leak(run_reads, name):
    tmp, run, reads = run_reads
    report = upload_report(tmp, run, name, ENCODINGS[name](reads))
    assert_content_leak(report, name)


@pytest.mark.parametrize("name", ENCODINGS)
def test_random_bytes_in_another_alphabet_find_nothing(run_reads, name):
    tmp, run, _ = run_reads
    report = upload_report(tmp, run, f"random {name}", ENCODINGS[name](random.Random(name).randbytes(40000)))
    assert_no_content(report)
