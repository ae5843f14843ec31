from __future__ import annotations

import gzip
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.model import Payload
from sandbox.protocols.parts import (
    LABEL,
    MAX_EARLY,
    MAX_UPLOADS,
    PARTS_HELD,
    PARTS_WAIT,
    UPLOADS,
    Part,
    PartStreams,
    flush_uploads,
    part_header,
    parts_of,
)
from tests.protocols.test_stream_parsers_conformance import make_ctx

TEXT = b"".join(b"@read%d\n%s\n+\n%s\n" % (i, bytes(random.Random(i).choices(b"ACGT", k=150)), b"F" * 150)
                for i in range(120))
GZ = gzip.compress(TEXT)
KEY = "POST /up/#"


def _past_first(size: int) -> bytes:
    """What the parts past the first make (the first piece is decoded as its own message: a follower
    hands on what a stream makes after the piece it opens in)."""
    return TEXT[len(zlib.decompressobj(31).decompress(GZ[:size])):]


@pytest.mark.parametrize(("meta", "parts"), [
    ({"method": "POST", "path": "/upload/part/7"}, (Part("POST /upload/part/#", 7),)),
    ({"method": "PUT", "path": "/b/k?partNumber=3&uploadId=Zm9v2YmFy"}, (Part("PUT /b/k?partNumber=#", 3),)),
    ({"method": "POST", "path": "/upload/42/part/7"},
     (Part("POST /upload/42/part/#", 7), Part("POST /upload/#/part/# @1", 7), Part("POST /upload/#/part/# @2", 42))),
    ({"method": "POST", "path": "/up/7.bin"}, (Part("POST /up/#.bin", 7),)),
    ({"method": "POST", "path": "/up?offset=1024"}, (Part("POST /up?offset=#", 1024),)),
    ({"method": "POST", "path": "/up?resumableChunkNumber=2&n=x"}, (Part("POST /up?resumableChunkNumber=#", 2),)),
    # a nonce after the part's number: every number but the one tried folded
    ({"method": "POST", "path": "/up/part/3/r8472"},
     (Part("POST /up/part/3/r#", 8472), Part("POST /up/part/#/r# @1", 8472), Part("POST /up/part/#/r# @2", 3))),
    ({"method": "POST", "path": "/up?x=3&t=1733500000"},
     (Part("POST /up?x=#&t=# @1", 1733500000), Part("POST /up?x=#&t=# @2", 3))),
    ({"method": "POST", "path": "/upload"}, ()),
    ({"method": "POST", "path": "/up/" + "9" * 40}, ()),
    ({"method": "POST", "path": "/up/\u0663"}, ()),
    ({"path": "/up/1"}, ()),
    ({}, ()),
])
def test_the_parts_a_target_may_name(meta, parts):
    assert parts_of(meta) == parts


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def _send(sender: PartStreams, number: int, data: bytes, t: float, offset: int = 0):
    return sender.follow((Part(KEY, number),), "POST /up/#", data, offset, "out", ("http/1.1 POST /up",), t, t, {})


def _decoded(items) -> bytes:
    return b"".join(p.data for p in items if isinstance(p, Payload) and LABEL in p.chain
                    and p.chain[-1] == "gzip stream")


def _upload(sender: PartStreams):
    return next(iter(sender.ctx.shared[UPLOADS].values()))


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 3), st.sampled_from([300, 1100, 2500]))
def test_parts_in_any_order_over_any_connections_decode_whole(rnd, conns, size):
    shared: dict = {}
    senders = [PartStreams(make_ctx()) for _ in range(conns)]
    for sender in senders:
        sender.ctx.shared = shared
    parts = _pieces(GZ, size)
    order = list(range(len(parts)))
    rnd.shuffle(order)
    items = []
    for k, n in enumerate(order):
        items += _send(senders[rnd.randrange(conns)], n, parts[n], 1.0 + k * 0.001)
    items += flush_uploads(shared, None, None)
    decoded = _decoded(items)
    # what the parts' first connection read in line before one came out of line is not handed on again
    assert TEXT.endswith(decoded)
    assert decoded == _past_first(size) or order[0] == 0 and size >= 1024


def test_an_upload_in_order_on_its_connection_is_read_once():
    """The connection's own stream read it: the upload hands on nothing and holds nothing."""
    sender = PartStreams(make_ctx())
    items = []
    parts = _pieces(GZ, 1100)
    parts[-2:] = [parts[-2] + parts[-1]]        # a short piece is read joined, not by the connection's follower
    for n, part in enumerate(parts):
        items += _send(sender, n, part, 1.0 + n)
    upload = _upload(sender)
    items += flush_uploads(sender.ctx.shared, None, None)
    assert items == [] and upload.lined and not upload.early


def test_a_piece_out_of_line_reads_the_upload_from_there_only():
    """Parts 0-4 in line on one connection, 5 on another: the upload reads 0-4 again (their output
    dropped) and hands on what 5 on makes."""
    first, second = PartStreams(make_ctx()), PartStreams(make_ctx())
    second.ctx.shared = first.ctx.shared
    parts = _pieces(GZ, 1100)
    items = []
    for n, part in enumerate(parts):
        items += _send(first if n < 5 else second, n, part, 1.0 + n)
    items += flush_uploads(first.ctx.shared, None, None)
    decoded = _decoded(items)
    assert decoded and TEXT.endswith(decoded) and len(decoded) < len(TEXT)


def test_part_zero_after_an_upload_began_at_one_reads_it_again():
    sender = PartStreams(make_ctx())
    parts = _pieces(GZ, 1100)
    items = []
    for n in [*range(1, len(parts)), 0]:
        items += _send(sender, n, parts[n], 1.0 + n)
    assert _decoded(items + flush_uploads(sender.ctx.shared, None, None)) == _past_first(1100)


def test_offsets_order_the_parts_as_numbers_do():
    sender = PartStreams(make_ctx())
    parts = _pieces(GZ, 1100)
    items = []
    for n in reversed(range(len(parts))):
        items += _send(sender, n * 1100, parts[n], 1.0)
    assert _decoded(items + flush_uploads(sender.ctx.shared, None, None)) == _past_first(1100)


def test_a_part_sent_again_is_read_once():
    sender = PartStreams(make_ctx())
    parts = _pieces(GZ, 1100)
    items = []
    for n in reversed(range(len(parts))):
        items += _send(sender, n, parts[n], 1.0) + _send(sender, n, parts[n], 1.0)
    assert _decoded(items + flush_uploads(sender.ctx.shared, None, None)) == _past_first(1100)


def test_a_piece_waits_for_those_before_it_at_most_parts_wait():
    sender = PartStreams(make_ctx())
    parts = _pieces(GZ, 1100)
    assert _send(sender, 3, parts[3], 10.0) == []
    assert flush_uploads(sender.ctx.shared, 10.0 - 0.5) == []    # the sweep at 10 + PARTS_WAIT - 0.5
    assert _upload(sender).early
    flush_uploads(sender.ctx.shared, 10.0)     # ... at 10 + PARTS_WAIT
    assert not _upload(sender).early


def test_numbers_that_never_follow_one_another_are_let_go_unread():
    """A timestamp in the path: each body waits, then goes unread (its connection read it)."""
    sender = PartStreams(make_ctx())
    rnd = random.Random(5)
    for k in range(20):
        _send(sender, 1_700_000_000 + 1000 * k + rnd.randrange(500), rnd.randbytes(1100), float(k))
        assert flush_uploads(sender.ctx.shared, float(k) - PARTS_WAIT) == []
    upload = _upload(sender)
    assert len(upload.early) <= PARTS_WAIT + 1 and upload.lined and not upload.history


def test_bodies_of_other_numbers_before_an_upload_do_not_stop_it():
    """Decoys of random numbers on the same path, then the parts shuffled: read whole."""
    sender = PartStreams(make_ctx())
    rnd = random.Random(6)
    for k in range(40):
        _send(sender, rnd.randrange(10**6, 10**9), rnd.randbytes(1100), float(k))
        flush_uploads(sender.ctx.shared, float(k))      # each waited its time
    parts = _pieces(GZ, 1100)
    order = list(range(len(parts)))
    rnd.shuffle(order)
    items = []
    for n in order:
        items += _send(sender, n, parts[n], 50.0)
    assert _decoded(items + flush_uploads(sender.ctx.shared, None, None)) == _past_first(1100)


@pytest.mark.parametrize("size", [60_000, 1])
def test_held_pieces_are_bounded(size):
    sender = PartStreams(make_ctx())
    piece = bytes(size)
    for n in range(2, 2 + 3 * min(PARTS_HELD // size, MAX_EARLY)):
        _send(sender, 2 * n, piece, 1.0)      # none ever follows: each waits
        upload = _upload(sender)
        assert upload.early_bytes <= PARTS_HELD + size and len(upload.early) <= MAX_EARLY + 1


def test_uploads_at_once_are_bounded_and_let_go_when_quiet():
    sender = PartStreams(make_ctx())
    for k in range(MAX_UPLOADS * 2):
        sender.follow((Part(f"POST /u{k}/#", 3),), "POST /u/#", b"y" * 1100, 0, "out", ("l",), 1.0, 1.0, {})
    assert len(sender.ctx.shared[UPLOADS]) == MAX_UPLOADS
    flush_uploads(sender.ctx.shared, 400.0, 399.0)
    assert not sender.ctx.shared[UPLOADS]


def test_inbound_bodies_make_no_upload():
    sender = PartStreams(make_ctx())
    assert sender.follow((Part(KEY, 3),), KEY, b"z" * 2000, 0, "in", ("l",), 1.0, 1.0, {}) == []
    assert UPLOADS not in sender.ctx.shared


def _send_unnumbered(sender: PartStreams, data: bytes, t: float):
    return sender.follow((), "POST /up", data, 0, "out", ("http/1.1 POST /up",), t, t, {})


@pytest.mark.parametrize("conns", [1, 2, 3])
def test_long_bodies_without_a_number_are_one_upload_in_the_order_they_come(conns):
    """Round-robin over the connections (one: its own stream read them, the upload hands on nothing)."""
    shared: dict = {}
    senders = [PartStreams(make_ctx()) for _ in range(conns)]
    for sender in senders:
        sender.ctx.shared = shared
    items = []
    parts = _pieces(GZ, 1100)
    parts[-2:] = [parts[-2] + parts[-1]]
    for n, part in enumerate(parts):
        items += _send_unnumbered(senders[n % conns], part, 1.0 + n)
    items += flush_uploads(shared, None, None)
    assert _decoded(items) == (b"" if conns == 1 else _past_first(1100))


def test_short_bodies_without_a_number_are_left_to_the_joined_reading():
    sender = PartStreams(make_ctx())
    for n, part in enumerate(_pieces(GZ, 500)):
        assert _send_unnumbered(sender, part, 1.0 + n) == []
    assert UPLOADS not in sender.ctx.shared


@pytest.mark.parametrize(("headers", "found"), [
    ([("Content-Range", "bytes 1024-2047/8192")], "content-range=1024"),
    ([("content-range", "bytes 0-99/*")], "content-range=0"),
    ([("Upload-Offset", "4096"), ("Tus-Resumable", "1.0.0")], "upload-offset=4096"),
    ([("X-Chunk-Index", "3")], "x-chunk-index=3"),
    ([("X-Part-Number", " 7 ")], "x-part-number=7"),
    ([("Content-Length", "1024"), ("Upload-Length", "8192"), ("Keep-Alive", "5")], ""),
    ([("Content-Range", "items 0-9/100"), ("X-Chunk-Index", "three")], ""),
    ([("X-Trace", "12345")], ""),
])
def test_the_part_a_header_names(headers, found):
    assert part_header(headers) == found


def test_a_part_named_in_a_header_keys_its_upload_by_path_and_header():
    assert parts_of({"method": "PUT", "path": "/u/9?x=1", "part": "content-range=2048"}) == \
        (Part("PUT /u/9 content-range", 2048),)


def test_parts_sent_to_two_sites_by_turns_are_read_together():
    """Each site's upload holds every second part; the upload of the key to every site reads them all
    (and, while one site had them, read nothing)."""
    from sandbox.model import FlowInfo
    from sandbox.protocols.context import FlowContext

    def ctx(dst: str) -> FlowContext:
        info = FlowInfo(flow=f"tcp 10.0.0.2:5 > {dst}:80", channel="net", transport="tcp", src="10.0.0.2", sport=5,
                        dst=dst, dport=80, destination=dst)
        return FlowContext(flow=info.flow, info=info, shared=shared, opener="out")

    shared: dict = {}
    senders = [PartStreams(ctx("192.0.2.9")), PartStreams(ctx("198.51.100.7"))]
    parts = _pieces(GZ, 1100)
    items = _send(senders[0], 0, parts[0], 1.0)
    assert not _decoded(items)
    for n in range(1, len(parts)):
        items += _send(senders[n % 2], n, parts[n], 1.0 + n)
    assert _decoded(items + flush_uploads(shared, None, None)) == _past_first(1100)
