"""lzip: files as Debian's lzip writes them (every level, members in a row), cut short, inside other
bytes, hostile headers."""

from __future__ import annotations

import random
import subprocess

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.codec import lzip_dictionary as dictionary
from sandbox.decode.lzip import LzipDecoder

CHAIN = ("tcp",)
RNG = random.Random(11)
READS = "".join(f"@r{i}\n{''.join(RNG.choice('ACGT') for _ in range(150))}\n+\n{'F' * 150}\n"
                for i in range(2000)).encode()


def _lzip(data: bytes, *switches: str) -> bytes:
    return subprocess.run(["lzip", "-c", *switches], input=data, capture_output=True, check=True).stdout


def _views(data: bytes) -> dict[str, bytes]:
    return {v.chain[-1]: v.data for v in expand(data, CHAIN).views[1:]}


@pytest.mark.parametrize("switches", [("-0",), ("-6",), ("-9",), ("-b", "100000"), ("-s", "4096")])
def test_every_level_and_members_in_a_row(switches):
    """``-b`` writes a member every 100,000 bytes: one view of all of them, as lzip -d gives."""
    assert _views(_lzip(READS, *switches)) == {"lzip": READS}


def test_a_file_cut_short_gives_what_arrived():
    data = _lzip(READS, "-b", "100000")
    (label, got), = _views(data[: len(data) // 2]).items()
    assert label == "lzip(truncated)" and READS.startswith(got) and len(got) > len(READS) // 4


def test_a_file_inside_other_bytes_and_two_in_a_view():
    sheet = b"Sample_ID,Sample_Name\nS1,NA12878-blood\n" * 100
    data = b"VNDR" + bytes(28) + _lzip(READS) + b"\x00" * 16 + _lzip(sheet)
    views = _views(data)
    assert views["lzip@32"] == READS and views[f"lzip@{32 + len(_lzip(READS)) + 16}"] == sheet


def test_dictionary_sizes_are_lzip_s():
    assert dictionary(0x0C) == 1 << 12 and dictionary(0x1D) == 1 << 29 and dictionary(0xD4) == (1 << 20) * 10 // 16
    assert dictionary(0x0B) == 0 and dictionary(0x1E) == 0  # 2 KiB, 1 GiB: not lzip's


@pytest.mark.parametrize("header", [b"LZIP\x01\x0b", b"LZIP\x01\x1f", b"LZIP\x02\x18", b"LZIP\x01"])
def test_hostile_headers_give_nothing(header):
    data = header + RNG.randbytes(5000)
    assert list(LzipDecoder.decode(data, Budget(1 << 24, "test"))) == []


def test_the_budget_stops_it_and_says_so():
    budget = Budget(100_000, "test budget")
    (label, out), = LzipDecoder.decode(_lzip(READS, "-b", "100000"), budget)
    assert label == "lzip" and out == READS[:100_000] and budget.hit == "test budget" and budget.left > 0
