"""yEnc: each part read back exactly (escapes, line breaks, =ypart), cut parts, and what is no yEnc."""

from __future__ import annotations

import gzip
import os

from sandbox.decode import Budget, expand
from sandbox.decode.yenc import YencDecoder, undo
from tests.decode.test_xor import fastq

CRITICAL = {0, 10, 13, 61}


def yenc(data: bytes, name: str = "reads.fastq.gz", line: int = 128, part: tuple[int, int] | None = None,
         extra: frozenset[int] = frozenset()) -> bytes:
    """A yEnc part as newsreaders write it (``extra``: bytes escaped besides the four critical ones)."""
    body, width = bytearray(), 0
    for byte in data:
        o = (byte + 42) & 0xFF
        if o in CRITICAL or o in extra:
            body += bytes((61, (o + 64) & 0xFF))
            width += 2
        else:
            body.append(o)
            width += 1
        if width >= line:
            body += b"\r\n"
            width = 0
    head = f"=ybegin line={line} size={len(data)} name={name}\r\n".encode()
    if part:
        head = f"=ybegin part=1 line={line} size={len(data)} name={name}\r\n=ypart begin={part[0]} end={part[1]}\r\n".encode()
    return head + bytes(body) + f"\r\n=yend size={len(data)}\r\n".encode()


def test_any_bytes_come_back_exactly():
    for data in (os.urandom(70_000), bytes(range(256)) * 50, bytes(3000)):
        [(label, out)] = YencDecoder.decode(yenc(data), Budget(1 << 30, "test"))
        assert label == "yenc" and out == data
        [(_, out)] = YencDecoder.decode(yenc(data, extra=frozenset(b"\t .")), Budget(1 << 30, "test"))
        assert out == data


def test_parts_one_after_another_and_inside_other_bytes():
    a, b = os.urandom(5000), os.urandom(7000)
    written = b"From: lab\r\nSubject: dump\r\n\r\n" + yenc(a, part=(1, 5000)) + b"-- \r\n" + yenc(b, "b.bin")
    assert YencDecoder.sniff(written)
    assert [out for _, out in YencDecoder.decode(written, Budget(1 << 30, "test"))] == [a, b]


def test_a_gzip_of_reads_is_reached_through_the_registry():
    reads = fastq(60)
    views = expand(yenc(gzip.compress(reads)), ("t",)).views
    assert any(v.chain[1:] == ("yenc", "gzip") and v.data == reads for v in views)


def test_a_part_the_view_cut_reads_to_its_end():
    data = os.urandom(20_000)
    written = yenc(data)
    for cut in (100, 5000, len(written) - 20):
        [(_, out)] = YencDecoder.decode(written[:cut], Budget(1 << 30, "test"))
        assert data.startswith(out[:-1]), cut


def test_the_budget_bounds_the_output():
    budget = Budget(10_000, "test")
    [(_, out)] = YencDecoder.decode(yenc(os.urandom(100_000)), budget)
    assert len(out) <= 10_000 and budget.hit


def test_what_is_no_yenc():
    assert not YencDecoder.sniff(b"a line about =ybegin\nnothing")
    assert not YencDecoder.sniff(b"=ybegin")
    assert undo(b"=") == b"" and undo(b"==") == bytes(((61 - 64 - 42) & 0xFF,))     # (the second escaped)


def test_escapes_across_the_pieces_undone_at_once():
    """An escape whose byte comes in the next piece (CHUNK bytes each) is undone as any; so is a run of
    ``=`` across a piece's end."""
    from sandbox.decode import yenc as module

    def less(text: bytes, by: int = 42) -> bytes:
        return bytes((b - by) & 0xFF for b in text)

    for before in (module.CHUNK - 2, module.CHUNK - 1, module.CHUNK):
        body = b"a" * before + b"=J" + b"b" * 10
        assert undo(body) == less(b"a") * before + less(b"J", 106) + less(b"b") * 10, before
        body = b"a" * before + b"===J"
        assert undo(body) == less(b"a") * before + less(b"=", 106) + less(b"J", 106), before
