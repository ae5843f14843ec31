"""Lists of byte values written as numbers: every form, inside text, and what is no list of bytes."""

from __future__ import annotations

import gzip
import json
import random
import struct

import pytest

from sandbox.decode import expand
from sandbox.decode.numbers import NumbersDecoder

CHAIN = ("tcp",)
BLOB = gzip.compress(b"@r1\nACGTTGCAACGTTGCAACGT\n+\nFFFFFFFFFFFFFFFFFFFF\n" * 4, mtime=0)
FORMS = {
    "csv": ",".join(map(str, BLOB)),
    "spaces and lines": "\n".join(" ".join(map(str, BLOB[i:i + 16])) for i in range(0, len(BLOB), 16)),
    "signed (Java)": ", ".join(map(str, struct.unpack(f"{len(BLOB)}b", BLOB))),
    "C array": ",\n  ".join(f"0x{b:02X}" for b in BLOB),
    "bits spaced": " ".join(f"{b:08b}" for b in BLOB),
    "bits": "".join(f"{b:08b}" for b in BLOB),
}


def _direct(data: bytes) -> list[tuple[str, bytes]]:
    return list(NumbersDecoder.decode(data, None)) if NumbersDecoder.sniff(data) else []


@pytest.mark.parametrize("form", FORMS)
def test_every_form_is_read_whole_and_inside_text(form):
    written = FORMS[form].encode()
    assert _direct(written + b"\n") == [("numbers", BLOB)]
    line = b"2026-12-06 diag dump: " + written + b" (end)\n"
    ((label, out),) = _direct(line)
    assert out == BLOB and label.startswith("numbers@")
    views = {v.chain: v.data for v in expand(line, CHAIN).views}
    assert views[CHAIN + (label, "gzip")].startswith(b"@r1\nACGT")


def test_a_longer_word_after_a_list_or_the_view_s_end_drops_the_last_value():
    values = list(range(40, 60))
    assert _direct(", ".join(map(str, values)).encode() + b"\n") == [("numbers", bytes(values))]
    assert _direct(", ".join(map(str, values)).encode()) == [("numbers", bytes(values[:-1]))]
    assert _direct(", ".join(map(str, values)).encode() + b"ms\n")[0][1] == bytes(values[:-1])
    c_array = b"static const unsigned char d[] = {" + b", ".join(b"0x%02x" % v for v in values) + b"};"
    assert _direct(c_array) == [(f"numbers@{c_array.index(b'0x')}", bytes(values))]


def test_what_is_no_list_of_bytes():
    for text in (
        ", ".join(str(v) for v in range(250, 270)),                 # values past a byte
        ", ".join(str(v) for v in [-5, 200] * 10),                  # signed and past 127: no one list
        "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",       # fifteen values
        "v1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20",      # a version, not a list
        "chr1\t12345\trs1\tA\tG\t50\tPASS\tDP=35;AF=0.5\n" * 20,     # a VCF's numbers beside words
    ):
        assert _direct(text.encode()) == [], text


def _words(fmt: str, data: bytes) -> list[int]:
    size = struct.calcsize(fmt)
    padded = data + b"\0" * (-len(data) % size)
    return list(struct.unpack(f"{fmt[0]}{len(padded) // size}{fmt[1]}", padded))


@pytest.mark.parametrize("fmt", ["<H", ">H", "<h", "<I", ">I", "<i", "<Q", ">Q", "<q"])
def test_wider_integers_are_read_as_words_in_both_byte_orders(fmt):
    """A JavaScript Uint32Array made a JSON array, 64-bit words a line: bytes as wider integers replayed
    clean (a value past 255 made the list no bytes)."""
    bits = 8 * struct.calcsize(fmt)
    order = "little" if fmt[0] == "<" else "big"
    rng = random.Random(2)
    blob = gzip.compress(bytes(rng.choice(b"ACGT") for _ in range(2000)))
    padded = blob + b"\0" * (-len(blob) % (bits // 8))
    listed = ", ".join(map(str, _words(fmt, blob))).encode() + b"\n"
    assert (f"numbers ({bits}-bit {order}-endian)", padded) in _direct(listed)
    views = {v.chain[-1]: v.data for v in expand(json.dumps({"words": _words(fmt, blob)}).encode(), CHAIN).views}
    assert views[f"json:$.words({bits}-bit {order}-endian)"] == padded


def test_counts_timestamps_and_readings_are_no_words():
    """Their top bytes keep to a few values, or small ones; packed bytes' (and text's) vary."""
    for values in (list(range(1733550000, 1733550000 + 600, 10)), list(range(250, 8000, 37)),
                   [round(20000 + 300 * (i % 7)) for i in range(100)], [2 ** 40 + i * 997 for i in range(50)]):
        assert _direct(", ".join(map(str, values)).encode() + b"\n") == [], values[:3]
        assert not [v.chain for v in expand(json.dumps({"v": values}).encode(), CHAIN).views if "-bit" in v.chain[-1]]
