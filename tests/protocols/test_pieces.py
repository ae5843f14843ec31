"""protocols.pieces: messages handed on in overlapping pieces, their bytes held bounded, the bytes
outside messages as a stream of their own."""

from __future__ import annotations

from sandbox.model import Payload
from sandbox.protocols import pieces
from sandbox.protocols.pieces import MESSAGES_HELD, Message, Messages, Outside
from tests.protocols.test_stream_parsers_conformance import make_ctx

DATA = bytes(range(256)) * 8192 + b"tail" * 1250     # 2 MiB and 5000 bytes: three pieces


def _bodies(items: list, label: str) -> list[Payload]:
    return [p for p in items if isinstance(p, Payload) and p.chain == ("tcp", label)]


def test_a_large_message_goes_in_overlapping_pieces_whatever_its_bytes_come_in():
    for step in (1000, 65536, len(DATA)):
        messages = Messages(make_ctx())
        message = Message("k", "m", {}, len(DATA), 1.0)
        items = [i for at in range(0, len(DATA), step) for i in messages.add("out", message, DATA[at: at + step], 1.0)]
        got = _bodies(items, "m")
        assert b"".join(p.data[p.repeated:] for p in got) == DATA, step
        assert [p.meta["piece"] for p in got] == [0, 1, 2] and got[1].repeated == 1024
        assert messages.held.bytes == 0


def test_a_message_whose_size_comes_a_frame_at_a_time_ends_when_no_more_is_announced():
    messages = Messages(make_ctx())
    message = Message("k", "m", {}, 10, 1.0, more=True)
    assert _bodies(messages.add("out", message, b"0123456789", 1.0), "m") == []     # more is coming
    message.left, message.more = 5, False
    (whole,) = _bodies(messages.add("out", message, b"abcde", 2.0), "m")
    assert whole.data == b"0123456789abcde"


def test_the_bytes_messages_in_progress_hold_are_bounded(monkeypatch):
    """Connections by the thousand, each with a message short of a piece: past MAX_MESSAGES_HELD in all
    each message's bytes go out as they come."""
    monkeypatch.setattr(pieces, "MAX_MESSAGES_HELD", 50_000)
    shared: dict = {}
    for _ in range(30):
        ctx = make_ctx()
        ctx.shared = shared
        messages = Messages(ctx)
        message = Message("k", "m", {}, 100_000, 1.0)
        messages.add("out", message, DATA[:10_000], 1.0)
        assert shared[MESSAGES_HELD].bytes <= 60_000
    assert shared[MESSAGES_HELD].bytes >= 40_000


def test_bytes_outside_messages_are_one_stream_in_pieces():
    outside = Outside(make_ctx(), "proto")
    items = [i for at in range(0, 210_000, 700) for i in outside.add("out", DATA[at: at + 700], 1.0)]
    items += outside.flush()
    got = [p for p in items if isinstance(p, Payload)]
    assert all(p.chain == ("tcp", "proto") for p in got)
    stream = bytearray()
    for p in got:
        stream[p.stream_offset:] = p.data
    assert bytes(stream) == DATA[:210_000]
