"""Bases written run-length coded, expanded: the count before its base or after it, counts of one left
out; nothing made of numbers, text or a count no homopolymer has; bounded by the budget."""

from __future__ import annotations

import random
import re

import pytest

from sandbox.decode import Budget, expand
from sandbox.decode.runlength import MAX_RUN, RunLengthDecoder, looks_run_length

READS = b"".join(bytes(random.Random(i).choices(b"ACGT", k=150)) + b"\n" for i in range(40))


def _coded(reads: bytes, after: bool = False, ones: bool = True) -> bytes:
    def run(m: re.Match[bytes]) -> bytes:
        count = b"%d" % len(m[0]) if ones or len(m[0]) > 1 else b""
        return m[1] + count if after else count + m[1]
    return re.sub(rb"([ACGT])\1*", run, reads)


def _read(data: bytes, budget: int = 1 << 30) -> list[tuple[str, bytes]]:
    return list(RunLengthDecoder.decode(data, Budget(budget, "test"))) if RunLengthDecoder.sniff(data) else []


@pytest.mark.parametrize(("after", "ones"), [(False, True), (False, False), (True, True), (True, False)])
def test_runs_are_expanded_whichever_side_the_count_is(after, ones):
    assert _read(_coded(READS, after, ones)) == [("run-length", READS)]


def test_reads_are_reached_through_the_registry():
    assert any(v.chain[-1] == "run-length" and v.data == READS for v in expand(_coded(READS), ("t",)).views)


@pytest.mark.parametrize("data", [
    READS,                                                  # bases as they are: read as they are
    b"".join(b"%d,%d,%d\n" % (i, i * 7, i * 13) for i in range(200)),
    b"GET /runs/42/status HTTP/1.1\r\n" * 20,
    b"3A2C" * 100 + b"99999A",                              # a run no homopolymer has
])
def test_other_bytes_give_no_view(data):
    assert _read(data) == [] or not looks_run_length(data)


def test_a_long_run_is_no_homopolymer():
    data = _coded(READS) + b"%dA\n" % (MAX_RUN + 1)
    assert _read(data) == []


def test_the_output_is_bounded_by_the_budget():
    bomb = b"1000A" * 2000                                   # 2 MB of bases from 10 kB
    budget = Budget(1 << 20, "test")
    assert list(RunLengthDecoder.decode(bomb, budget)) == [] and budget.remaining == 1 << 20 and budget.hit
