"""Hex dumps as the real tools print them (xxd, hexdump -C, hexdump, od), inside logs, with '*'
repeats, and what is not a dump."""

from __future__ import annotations

import os
import subprocess

import pytest

from sandbox.decode import expand
from sandbox.decode.base import Budget
from sandbox.decode.hexdump import MAX_FILL, HexdumpDecoder

CHAIN = ("serial",)
READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, (b"ACGTTGCAAC" * 15)[i:i + 120], b"F" * 120) for i in range(20))
TOOLS = [["xxd"], ["xxd", "-g1"], ["xxd", "-g4"], ["hexdump", "-C"], ["hexdump"], ["od", "-x"],
         ["od", "-A", "x", "-t", "x1z"], ["od", "-A", "x", "-x"]]


def dump(cmd: list[str], data: bytes) -> bytes:
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


def decoded(data: bytes, budget: int = 1 << 30) -> dict[str, bytes]:
    return dict(HexdumpDecoder.decode(data, Budget(budget, "test")))


@pytest.mark.parametrize("cmd", TOOLS, ids=" ".join)
@pytest.mark.parametrize("data", [READS, os.urandom(3001), READS + bytes(5000) + READS], ids=["reads", "random", "zeros"])
def test_every_tool_round_trips(cmd, data):
    out = decoded(dump(cmd, data))
    assert list(out) == ["hexdump"]
    # 16-bit word dumps (hexdump, od -x) pad an odd last byte with a zero
    assert out["hexdump"] == data or out["hexdump"] == data + b"\0" and len(data) % 2


def test_a_dump_inside_a_console_log_is_found_at_its_offset():
    text = dump(["hexdump", "-C"], READS)
    log = b"boot ok\r\nservice> dump /data/run/reads.fastq\r\n" + text.replace(b"\n", b"\r\n") + b"service> exit\r\n"
    out = decoded(log)
    assert out == {f"hexdump@{log.index(text[:8])}": READS}


def test_a_read_split_by_the_ascii_column_is_whole_again_through_expand():
    views = {v.chain: v.data for v in expand(dump(["xxd"], READS), CHAIN).views}
    assert views[CHAIN + ("hexdump",)] == READS


def test_two_dumps_are_two_blocks():
    a, b = os.urandom(64), os.urandom(80)
    out = decoded(dump(["xxd"], a) + b"\nnext file:\n" + dump(["xxd"], b))
    assert list(out.values()) == [a, b]


def test_star_repeats_are_filled_within_the_budget():
    text = dump(["hexdump", "-C"], bytes(1 << 30))     # three lines: 1 GiB of zeros
    assert len(text) < 200
    budget = Budget(1 << 30, "test")
    out = list(HexdumpDecoder.decode(text, budget))
    assert len(out[0][1]) <= MAX_FILL + 16 and budget.hit and budget.left > (1 << 30) - MAX_FILL - 32
    small = Budget(4096, "expansion ratio 100x")
    out = list(HexdumpDecoder.decode(text, small))
    assert len(out[0][1]) <= 4096 and small.hit == "expansion ratio 100x"


@pytest.mark.parametrize("text", [
    b"2024 12 03 16 45 ok\n2024 12 03 16 46 ok\n" * 20,                  # dates, not offsets with bytes
    b"0000 DeadBeefCafe wordy line\n0010 CafeBabe\n" * 20,               # tokens over 4 bytes
    b"cafe latte 12\nbeef stew 11\n" * 20,
    b"1234  12 34 56\n",                                                  # under the smallest window
])
def test_not_a_dump(text):
    assert decoded(text) == {}


def test_lines_that_fail_on_their_last_token_are_not_a_dump():
    # a megabyte of lines that look like dump lines until their last token
    text = b"00000000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f zz\n" * 16000
    assert decoded(text) == {}
