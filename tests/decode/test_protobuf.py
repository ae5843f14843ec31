"""Schema-less protobuf: nested paths, leaves, text is never a message."""

from __future__ import annotations

import gzip

from sandbox.decode import expand
from sandbox.decode.protobuf import ProtobufDecoder, fields

from .test_conformance import protobuf_field as field

CHAIN = ("grpc",)
READS = b"@r1\nACGTTGCAACGTTGCA\n+\nFFFFFFFFFFFFFFFF\n" * 20


def test_nested_paths_and_compressed_leaf():
    run = field(1, b"A00123_0049_AH2CLFDMXX") + field(2, 318)
    upload = field(1, run) + field(3, gzip.compress(READS)) + field(3, b"second chunk of bytes here")
    msg = field(7, 1) + field(2, upload)
    views = {v.chain: v.data for v in expand(msg, CHAIN).views}
    assert views[CHAIN + ("protobuf:2.1.1",)] == b"A00123_0049_AH2CLFDMXX"
    assert views[CHAIN + ("protobuf:2.3", "gzip")] == READS
    assert views[CHAIN + ("protobuf:2.3",)] in (gzip.compress(READS), b"second chunk of bytes here")


def test_text_is_not_a_message():
    assert not ProtobufDecoder.sniff(b"hello world, this is plain text that is long enough\n")
    assert not ProtobufDecoder.sniff(b"\n\x05hello")  # a valid message, but below the 16-byte floor


def test_fields_rejects_overruns_and_bad_wire_types():
    assert fields(field(1, b"x" * 20)[:-1]) is None
    assert fields(b"\x0b\x00") is None  # wire type 3 (group start)
    assert fields(b"\x00\x00") is None  # field number 0
    assert fields(field(1, b"abc") + field(2, 5)) == [(1, 2, 5)]
