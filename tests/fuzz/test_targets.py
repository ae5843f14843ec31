"""The fuzz targets without the fuzzer: every target exists, and runs over its seeds without a crash.

So a new reader, parser or decoder gets a target the day it is registered, and the seeds (real
captures from ``../shared/data``, our writer's) keep exercising it in ``make test``.
"""

from __future__ import annotations

import pytest

from fuzz.corpus import MAX_SEED, seeds
from fuzz.targets import TARGETS, encode_records, records
from sandbox.captures.capture import READERS
from sandbox.decode import DECODERS
from sandbox.protocols import DATAGRAM_PARSERS, STREAM_PARSERS
from sandbox.protocols.usb import FUNCTIONS


def test_every_reader_parser_and_decoder_has_a_target() -> None:
    usb = len(FUNCTIONS) + 2        # every class decoder, the raw fallback, the whole device
    assert len(TARGETS) == len(READERS) + len(STREAM_PARSERS) + len(DATAGRAM_PARSERS) + len(DECODERS) + 1 + usb


def test_parser_input_records_round_trip() -> None:
    parts = [("out", b"GET / HTTP/1.1\r\n\r\n"), ("in", b""), ("out", b"x" * 70_000)]
    got = [(d, chunk) for d, gap, chunk, _ in records(encode_records(parts))]
    assert b"".join(c for d, c in got if d == "out") == parts[0][1] + parts[2][1]
    assert list(records(b"\x02\x00\x10")) == [("in", True, b"", 16)]     # a gap record carries no bytes
    assert list(records(b"\x01\xff")) == []                               # a torn header is the end


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_runs_over_its_seeds(name: str, shared_data) -> None:
    inputs = list(seeds(name))
    assert inputs and all(len(s) <= MAX_SEED for s in inputs)
    for data in inputs:
        TARGETS[name].run(data)
