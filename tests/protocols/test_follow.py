"""Compressed streams that run on past the piece of a flow they start in are decoded across pieces."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import random
import zlib

import lz4.frame
import pytest
import zstandard

from sandbox.decode.codec import FORMATS, streaming
from sandbox.model import Observation, Payload
from sandbox.protocols.follow import StreamFollower
from sandbox.protocols.raw import RAW_CHUNK, RAW_OVERLAP, RawParser
from tests.protocols.test_stream_parsers_conformance import make_ctx

rng = random.Random(2)
READS = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(rng.choice(b"ACGT") for _ in range(100)), b"F" * 100)
                 for i in range(400))
JUNK = random.Random(3).randbytes(70000)          # incompressible: it pushes the reads past the first piece
# reads with qualities of many values: a stream read from inside knows most of what it makes soon
LONG = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, bytes(rng.choice(b"ACGT") for _ in range(150)),
                                         bytes(rng.choice(range(33, 74)) for _ in range(150))) for i in range(3000))


def _holds_tail_of(text: bytes, got: bytes) -> bool:
    """Whether ``got`` holds a 100-byte piece of ``text``'s last 20 kB (what a stream read from inside
    makes is zeros where it copies from before what it read)."""
    return any(text[i:i + 100] in got for i in range(len(text) - 20_000, len(text), 100))


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


PACK = {"gzip": gzip.compress, "zlib": zlib.compress, "zstd": zstandard.compress, "xz": lzma.compress,
        "bz2": bz2.compress, "lz4": lz4.frame.compress, "deflate": _deflate}


def _pieces(data: bytes, size: int = RAW_CHUNK):
    return [(data[i: i + size], i) for i in range(0, len(data), size)]


def _first_piece_decoded(fmt: str, piece: bytes) -> bytes:
    return FORMATS[fmt](streaming()).feed_split(piece)[0]


@pytest.mark.parametrize("fmt", list(PACK))
def test_a_stream_that_makes_the_flow_is_followed_to_its_end(fmt):
    plain = JUNK + READS
    stream = PACK[fmt](plain)
    follower = StreamFollower({})
    followed = [follower.piece(piece, at) for piece, at in _pieces(stream)]
    rest = b"".join(f.data for f in followed[1:] if f is not None)
    if fmt == "deflate":    # stored blocks first: no decoder opens its first piece, so it is handed on too
        assert followed[0] is not None and followed[0].data + rest == plain
    else:                   # the first piece's own decoding has what it holds
        assert followed[0] is None and _first_piece_decoded(fmt, stream[:RAW_CHUNK]) + rest == plain


@pytest.mark.parametrize("fmt", ["gzip", "zstd", "xz", "bz2", "lz4"])
def test_a_stream_that_starts_later_in_the_flow_is_followed(fmt):
    header = os.urandom(100000)                         # a stream after other bytes, in the second piece
    stream = PACK[fmt](JUNK + READS)
    follower = StreamFollower({})
    out = [follower.piece(piece, at) for piece, at in _pieces(header + stream)]
    assert READS in b"".join(f.data for f in out if f is not None)


def _gzip_with_extra(extra: bytes, data: bytes) -> bytes:
    """A gzip member whose header carries ``extra`` (FEXTRA: bytes no decompression outputs)."""
    member = gzip.compress(data, mtime=0)
    return member[:3] + bytes([member[3] | 4]) + member[4:10] + len(extra).to_bytes(2, "little") + extra + member[10:]


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_and_text_start_nothing(seed):
    """All random bytes may open is a gzip header whose extra field runs past the piece (chance writes
    one about once in 100 MiB; CI met one): it makes nothing."""
    follower = StreamFollower({})
    for piece, at in _pieces(random.Random(seed).randbytes(1 << 20)) + _pieces(READS * 3):
        assert follower.piece(piece, at) is None
        assert follower.codec is None or (follower.fmt == "gzip" and follower.codec.produced == 0)


def test_random_bytes_that_open_a_gzip_header_hand_nothing_on():
    noise = random.Random(244).randbytes(1 << 20)    # a gzip magic at 256,397: 56,253 bytes of extra field
    follower = StreamFollower({})
    opened = []
    for piece, at in _pieces(noise):
        assert follower.piece(piece, at) is None
        opened.append(follower.codec is not None)
    assert any(opened)


def test_a_gzip_header_that_runs_past_the_piece_is_followed():
    """A sender's extra field (up to 64 KiB) can push a member's deflate stream into the next piece."""
    flow = os.urandom(30000) + _gzip_with_extra(os.urandom(60000), JUNK + READS)
    follower = StreamFollower({})
    out = [follower.piece(piece, at) for piece, at in _pieces(flow)]
    assert READS in b"".join(f.data for f in out if f is not None)


def test_a_hole_ends_the_stream():
    stream = zlib.compress(JUNK + READS)
    follower = StreamFollower({})
    follower.piece(stream[:RAW_CHUNK], 0)
    assert follower.codec is not None
    follower.gap()
    after = follower.piece(stream[RAW_CHUNK:], RAW_CHUNK + 10)
    assert after is None or after.label == ("deflate resync stream",)    # not the zlib stream going on


def test_a_bomb_is_stopped_and_said():
    bomb = zlib.compress(os.urandom(60000) + bytes(400 << 20), 9)
    follower = StreamFollower({})
    said = [f for piece, at in _pieces(bomb) if (f := follower.piece(piece, at)) is not None and f.limit]
    assert len(said) == 1 and said[0].limit.decoder == "zlib"
    assert follower.codec is None


def test_a_flood_of_streams_is_followed_sixteen_at_a_time():
    """Each decoder holds a window (zstd's up to 32 MiB): a Dissector follows MAX_STREAMS at once, the
    one followed longest ago let go first; a flow's end lets its stream go."""
    from sandbox.protocols.follow import MAX_STREAMS, SHARED_STREAMS

    shared: dict = {}
    stream = zlib.compress(JUNK + READS)
    followers = [StreamFollower(shared) for _ in range(MAX_STREAMS + 4)]
    for f in followers:
        f.piece(stream[:RAW_CHUNK], 0)
    assert len(shared[SHARED_STREAMS]) == MAX_STREAMS
    assert [f.codec is None for f in followers] == [True] * 4 + [False] * MAX_STREAMS
    # a stream let go for room is not read on: its next piece is said as the limit it is
    said = followers[0].piece(stream[RAW_CHUNK:], RAW_CHUNK)
    assert said.data == b"" and said.limit.limit == f"{MAX_STREAMS} streams followed at once"
    assert said.limit.bytes_left == len(stream) - RAW_CHUNK
    assert followers[0].piece(b"more", len(stream)) is None
    parser = RawParser(make_ctx())
    parser.feed("out", stream[:RAW_CHUNK + 10], 1.0)
    assert len(parser.ctx.shared[SHARED_STREAMS]) == 1
    parser.close(2.0)
    assert not parser.ctx.shared[SHARED_STREAMS]


def test_what_comes_in_is_not_followed():
    stream = zlib.compress(JUNK + READS)
    follower = StreamFollower({})
    ctx = make_ctx()
    for piece, at in _pieces(stream):
        assert follower.follow(ctx, piece, at, "in", (), 1.0, 1.0) == []
    assert follower.codec is None


def test_the_raw_parser_hands_on_what_the_stream_makes_after_its_first_chunk():
    stream = zlib.compress(JUNK + READS)
    parser = RawParser(make_ctx())
    items = parser.feed("out", stream, 1.0) + parser.close(2.0)
    raw = [p for p in items if isinstance(p, Payload) and p.chain == ("tcp",)]
    followed = [p for p in items if isinstance(p, Payload) and p.chain == ("tcp", "zlib stream")]
    assert b"".join(p.data[p.repeated:] for p in raw) == stream
    assert READS in b"".join(p.data for p in followed)
    assert not [o for o in items if isinstance(o, Observation)]
    assert RAW_OVERLAP < RAW_CHUNK


def _followed(follower: StreamFollower, data: bytes, size: int = RAW_CHUNK) -> list:
    return [f for piece, at in _pieces(data, size) for f in follower.encoded(piece)]


@pytest.mark.parametrize("encoding", ["base64", "base64 with line breaks", "url-safe base64", "hex", "hex after \\x"])
def test_an_encoded_compressed_stream_is_decoded_and_followed_across_pieces(encoding):
    import base64
    import binascii

    blob = gzip.compress(JUNK + READS)
    text = {"base64": base64.b64encode, "base64 with line breaks": base64.encodebytes,
            "url-safe base64": base64.urlsafe_b64encode, "hex": binascii.hexlify,
            "hex after \\x": lambda b: b"INSERT INTO t VALUES ('\\x" + b.hex().encode() + b"');"}[encoding](blob)
    out = _followed(StreamFollower({}), b"PUT 1\n" + text)
    kind = "hex" if "hex" in encoding else "base64"
    inner = [f for f in out if f.label == (f"{kind} stream", "gzip stream")]
    assert READS in b"".join(f.data for f in inner) and not any(f.limit for f in out)


def test_a_piece_off_the_encoding_s_alignment_has_its_run_handed_on_decoded():
    import base64

    plain = JUNK + READS
    out = _followed(StreamFollower({}), b"ab\n" + base64.b64encode(plain))   # 3 bytes: each later piece off by 3
    decoded = b"".join(f.data for f in out if f.label == ("base64 stream",))
    assert READS[-10000:] in decoded and len(decoded) > len(plain) - 2 * RAW_CHUNK
    aligned = _followed(StreamFollower({}), base64.b64encode(plain))         # pieces start on the alignment
    assert not [f for f in aligned if f.label == ("base64 stream",)]


def test_text_words_and_short_runs_start_no_run():
    follower = StreamFollower({})
    words = b"the run folder was copied to the share and checked by the operator " * 2000
    identifiers = b"".join(b"%s,%d\n" % (os.urandom(20).hex().encode(), i) for i in range(5000))
    lower = b"abcdefghijklmnopqrstuvwxyz" * 5000                     # one case of letters only: no base64
    for data in (words, identifiers, lower, READS * 4):
        assert _followed(follower, data) == [] and follower.run is None


def test_a_hole_or_the_run_s_end_ends_the_run():
    import base64

    text = base64.b64encode(gzip.compress(JUNK + READS))
    follower = StreamFollower({})
    follower.encoded(text[:RAW_CHUNK])
    assert follower.inside == "base64" and follower.run.inner.codec is not None
    follower.gap()
    assert follower.run is None and follower.inside == ""
    follower.encoded(text[:RAW_CHUNK])
    follower.encoded(text[RAW_CHUNK:RAW_CHUNK + 100] + b"\" }\n")          # the run ends inside this piece
    assert follower.run is None


def test_messages_one_after_another_are_one_stream_until_they_end():
    from sandbox.protocols.follow import MessageStream

    blob = gzip.compress(JUNK + READS)
    ctx = make_ctx()
    messages = MessageStream(ctx)
    items = [i for at in range(0, len(blob), 16384)
             for i in messages.follow(blob[at: at + 16384], "out", ("websocket",), 1.0, 1.0)]
    followed = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain[-1] == "gzip stream")
    assert READS in _first_piece_decoded("gzip", blob[:16384]) + followed
    ended = MessageStream(ctx)
    ended.follow(blob[:16384], "out", ("websocket",), 1.0, 1.0)
    assert ended.follower.codec is not None
    ended.close()                                                    # the connection closed, or a hole
    assert ended.follower.codec is None and ended.follow(blob[16384:32768], "out", ("websocket",), 1.0, 1.0) == []
    inbound = MessageStream(ctx)
    assert all(inbound.follow(blob[at: at + 16384], "in", ("websocket",), 1.0, 1.0) == []
               for at in range(0, len(blob), 16384))


def test_message_streams_by_key_keep_a_stream_whole_between_other_messages():
    """Chunks of one upload with messages of another key (and short ones) between them: its stream goes
    on; a key let go past MAX_KEYS, or closed, ends only its own."""
    from sandbox.protocols.follow import MAX_KEYS, MessageStreams, message_key

    blob = gzip.compress(JUNK + READS)
    ctx = make_ctx()
    streams = MessageStreams(ctx)
    items = []
    for n, at in enumerate(range(0, len(blob), 16384)):
        items += streams.follow("chunks", blob[at: at + 16384], "out", ("upload",), 1.0, 1.0)
        items += streams.follow("status", random.Random(n).randbytes(3000), "out", ("status",), 1.0, 1.0)
        items += streams.follow("chunks", b'{"progress": %d}' % n, "out", ("upload",), 1.0, 1.0)   # short: apart
    followed = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain[-2:] == ("upload", "gzip stream"))
    assert READS in _first_piece_decoded("gzip", blob[:16384]) + followed
    assert streams.follow("x", b"data", "in", ("x",), 1.0, 1.0) == [] and "x" not in streams.streams
    for n in range(MAX_KEYS):
        streams.follow(f"k{n}", b"x" * 2000, "out", ("k",), 1.0, 1.0)
    assert "chunks" not in streams.streams and len(streams.streams) == MAX_KEYS
    assert message_key("http/1.1 POST /upload/run42/chunk/17") == message_key("http/1.1 POST /upload/run43/chunk/8")
    assert message_key("http/1.1 POST /status") != message_key("http/1.1 POST /upload/run42/chunk/17")


def test_a_stream_past_the_flow_s_first_64_bytes_is_followed():
    """A flow's first piece: after the formats tried at its first 64 bytes, a stream that starts further
    on (behind a header of 200 bytes) and runs past the piece is followed too."""
    blob = b'{"kind": "diagnostics", "pad": "' + b"x" * 170 + b'"}\n' + gzip.compress(JUNK + READS)
    follower = StreamFollower({})
    assert follower.piece(blob[:RAW_CHUNK], 0) is None and follower.fmt == "gzip" and follower.inside == "compressed"
    assert READS[-2000:] in follower.piece(blob[RAW_CHUNK:], RAW_CHUNK).data


def test_short_messages_are_joined_across_connections_to_one_destination():
    """A connection a message (a beacon): with ``across`` the short messages of a key are one batch for
    every connection to the destination, outliving them, handed on when it waited JOINED_WAIT or at the
    capture's end; without it, each connection's lone message is read only as itself."""
    from sandbox.protocols.follow import JOINED_ACROSS, JOINED_HELD, JOINED_WAIT, MessageStreams, flush_joined

    shared: dict = {}
    items = []
    for n, at in enumerate(range(0, 2400, 24)):
        ctx = make_ctx()
        ctx.shared, ctx.info.destination = shared, "lims.lab.example"
        streams = MessageStreams(ctx, across=True)
        items += streams.follow("POST /beacon", READS[at: at + 24], "out", ("b",), n * 0.1, n * 0.1) + streams.close()
        if n == 50:
            assert not flush_joined(shared, n * 0.1 - JOINED_WAIT)      # waited less than JOINED_WAIT: goes on
    items += flush_joined(shared, None, None)                            # the capture's end
    joined = [p for p in items if isinstance(p, Payload) and p.chain[-1] == "messages joined"]
    assert READS[:2400] == b"".join(p.data[p.repeated:] for p in joined)
    assert not shared[JOINED_ACROSS] and not shared[JOINED_HELD]        # nothing left shared: an archive's groups
    alone = MessageStreams(make_ctx())
    assert not [p for p in alone.follow("k", READS[:24], "out", ("b",), 1.0, 1.0) + alone.close()
                if isinstance(p, Payload) and p.chain[-1] == "messages joined"]


def test_short_messages_to_several_sites_are_also_joined_in_one_batch_handed_on_only_where_sites_mix():
    """Each piece to the next of three unrelated domains: each site's batch holds every third; the batch
    of every site holds them all in order (and is handed on only where it holds two sites' messages,
    so one site's messages are not read twice)."""
    from sandbox.protocols.follow import MessageStreams, flush_joined

    shared: dict = {}
    items = []
    domains = ("metrics.vendor-a.example", "cdn.other-b.example", "t.third-c.example")
    for n, at in enumerate(range(0, 2400, 24)):
        ctx = make_ctx()
        ctx.shared, ctx.info.destination = shared, domains[n % 3]
        streams = MessageStreams(ctx, across=True)
        items += streams.follow("GET /pixel.gif header:x-trace", READS[at: at + 24], "out", ("b",), n * 0.01,
                                n * 0.01) + streams.close()
    items += flush_joined(shared, None, None)
    joined = [p for p in items if isinstance(p, Payload) and p.chain[-1] == "messages joined"]
    assert READS[:2400] in [p.data[p.repeated:] for p in joined]
    assert len(joined) == 4                                  # three sites' batches and the one of every site
    items = []
    for at in range(0, 2400, 24):
        ctx = make_ctx()
        ctx.shared, ctx.info.destination = shared, "lims.lab.example"
        streams = MessageStreams(ctx, across=True)
        items += streams.follow("k", READS[at: at + 24], "out", ("b",), 9.0, 9.0) + streams.close()
    items += flush_joined(shared, None, None)
    assert len([p for p in items if isinstance(p, Payload) and p.chain[-1] == "messages joined"]) == 1


def test_the_bytes_all_batches_hold_are_bounded(monkeypatch):
    """Flows by the thousand, each with keys of its own, each key's batch short of full: past
    MAX_JOINED_HELD in all a batch goes out as its message comes."""
    from sandbox.protocols import follow
    from sandbox.protocols.follow import JOINED_HELD, MessageStreams

    monkeypatch.setattr(follow, "MAX_JOINED_HELD", 100_000)
    shared: dict = {}
    for _ in range(40):
        ctx = make_ctx()
        ctx.shared = shared
        streams = MessageStreams(ctx)
        for key in range(8):
            for _ in range(3):
                streams.follow(f"topic/{key}", b"x" * 1000, "out", ("t",), 1.0, 1.0)
        assert shared[JOINED_HELD].bytes <= 101_000
    assert shared[JOINED_HELD].bytes > 90_000     # held up to the bound, not flushed at every message


def test_the_checks_tried_at_a_flows_start_by_first_byte_miss_no_header_they_accept():
    """Only the header checks a byte can open are tried at each of a flow's first bytes (trying every
    check at every offset cost 30-60 µs a head value): any head a check accepts is tried."""
    from sandbox.decode.codec import zlib_header
    from sandbox.protocols.follow import _CHECKS_BY_FIRST, STARTS

    rng = random.Random(7)
    checks = [(fmt, ok) for fmt, _, ok in STARTS] + [("zlib", zlib_header)]
    tails = [magic[1:] for _, magic, _ in STARTS] + [b"\x2a\x4d\x18", b""]   # zstd/LZ4 skippable frames too
    for first in range(256):
        for tail in tails:
            for _ in range(8):
                head = bytes([first]) + tail + rng.randbytes(16 - len(tail))
                for fmt, ok in checks:
                    if ok(head):
                        assert (fmt, ok) in _CHECKS_BY_FIRST[first], (fmt, hex(first))


def test_after_a_hole_a_deflate_stream_is_read_from_its_next_block():
    stream = gzip.compress(JUNK + LONG)
    follower = StreamFollower({})
    follower.piece(stream[:RAW_CHUNK], 0)
    follower.gap()                                     # the capture lost bytes of it
    out = [follower.piece(piece, at) for piece, at in _pieces(stream[RAW_CHUNK + 5000:])]
    out.append(follower._first())
    got = b"".join(f.data for f in out if f is not None)
    assert _holds_tail_of(LONG, got)
    assert {f.label for f in out if f is not None} == {("deflate resync stream",)}


def test_a_piece_where_the_site_carried_a_deflate_stream_is_read_from_its_first_block():
    """The second part of a gzip on a connection of its own; at another site, or with none, not looked into."""
    stream = gzip.compress(JUNK + LONG)
    shared: dict = {}
    first = StreamFollower(shared)
    first.where = "lims.example"
    first.piece(stream[:RAW_CHUNK], 0)                # opens the gzip: the site carried one
    for where, found in (("lims.example", True), ("elsewhere.example", False)):
        second = StreamFollower(shared)
        second.where = where
        out = [second.piece(stream[RAW_CHUNK:], 0), second._first()]
        assert _holds_tail_of(LONG, b"".join(f.data for f in out if f is not None)) is found, where


def test_random_bytes_where_a_site_carried_a_deflate_stream_are_looked_into_for_a_bounded_share():
    shared: dict = {}
    opener = StreamFollower(shared)
    opener.where = "lims.example"
    opener.piece(gzip.compress(READS), 0)
    follower = StreamFollower(shared)
    follower.where = "lims.example"
    for piece, at in _pieces(random.Random(4).randbytes(4 << 20)):
        assert follower.piece(piece, at) is None and follower._first() is None
    assert follower.scan_left <= 0


def test_a_site_s_mark_lasts_less_than_the_gap_that_makes_an_archive_s_groups_independent():
    from sandbox.archive.merge import INDEPENDENT_GAP_S
    from sandbox.protocols.follow import RESYNC_MARK_S

    assert RESYNC_MARK_S < INDEPENDENT_GAP_S
    stream = gzip.compress(JUNK + LONG)
    shared: dict = {}
    first = StreamFollower(shared)
    first.where = "lims.example"
    first.piece(stream[:RAW_CHUNK], 0)
    later = StreamFollower(shared)
    later.where, later.now = "lims.example", RESYNC_MARK_S + 1
    assert later.piece(stream[RAW_CHUNK:], 0) is None and later._first() is None
