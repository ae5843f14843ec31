"""uu: uuencode's output (and Python's), several files in one text, files cut short, what is no uu."""

from __future__ import annotations

import binascii
import random

from sandbox.decode import Budget, expand
from sandbox.decode.uu import UuDecoder

CHAIN = ("tcp",)
rng = random.Random(13)
READS = "".join(f"@r{i}\n{''.join(rng.choice('ACGT') for _ in range(150))}\n+\n{'F' * 150}\n"
                for i in range(200)).encode()


def _uu(name: bytes, data: bytes, backtick: bool = True) -> bytes:
    lines = b"".join(binascii.b2a_uu(data[i: i + 45], backtick=backtick) for i in range(0, len(data), 45))
    return b"begin 644 " + name + b"\n" + lines + (b"`" if backtick else b" ") + b"\nend\n"


def _views(data: bytes) -> dict[str, bytes]:
    return {v.chain[-1]: v.data for v in expand(data, CHAIN).views if len(v.chain) == 2}


def test_files_in_a_mail_body():
    body = (b"Subject: nightly logs\r\n\r\nSee attached.\r\n\r\n" + _uu(b"reads.fastq", READS)
            + b"\r\nand the sheet\r\n" + _uu(b"SampleSheet.csv", b"Sample_ID\nS1\n", backtick=False) + b"--\r\n")
    views = _views(body)
    assert views["uu:reads.fastq"] == READS and views["uu:SampleSheet.csv"] == b"Sample_ID\nS1\n"


def test_a_file_cut_short_keeps_whole_lines_and_the_groups_of_a_cut_one():
    data = _uu(b"reads.fastq", READS)
    cut = data[: len(data) // 2 + 7]
    got = _views(cut)["uu:reads.fastq(truncated)"]
    assert READS.startswith(got) and len(READS) // 3 < len(got) < len(READS)


def test_what_is_no_uu():
    for data in (b"begin 644 x\nThis line has lower case: none of uuencode's symbols.\nend\n",
                 b"We begin at 10:00; begin 755 is a mode.\n" * 10):
        assert list(UuDecoder.decode(data, Budget(1 << 20, "t"))) == []


def test_the_budget_stops_it_and_says_so():
    budget = Budget(10_000, "test budget")
    ((label, out),) = list(UuDecoder.decode(_uu(b"reads.fastq", READS), budget))
    assert label == "uu:reads.fastq" and out == READS[:10_000] and budget.hit == "test budget"
