"""QUIC 1-RTT pieces on their own: frames, a stream's order and HTTP/3 framing, packet numbers.
(Real connections opened with a key log: ``test_quic.py``.)"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.protocols import quic_app
from sandbox.protocols.quic_app import StreamReader, _packet_number, frames


def _varint(value: int) -> bytes:
    for size, prefix in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if value < 1 << (8 * size - 2):
            raw = value.to_bytes(size, "big")
            return bytes([raw[0] | prefix]) + raw[1:]
    raise ValueError(value)


def _h3(body: bytes, pieces: int) -> bytes:
    """An HTTP/3 request stream: a header block, then ``body`` in ``pieces`` DATA frames."""
    out = _varint(1) + _varint(5) + b"\x00\x00\xd1\xd7\x50"
    size = -(-len(body) // pieces)
    for at in range(0, len(body), size):
        out += _varint(0) + _varint(len(body[at:at + size])) + body[at:at + size]
    return out


def test_frames_give_stream_data_and_what_else_the_sender_chose():
    payload = (b"\x01" + b"\x02" + _varint(5) + _varint(0) + _varint(0) + _varint(0)       # PING, ACK
               + b"\x0e" + _varint(4) + _varint(10) + _varint(3) + b"abc"                 # STREAM off+len
               + b"\x1a" + b"CHALLENG"                                                     # PATH_CHALLENGE
               + b"\x07" + _varint(5) + b"token"                                           # NEW_TOKEN
               + b"\x09" + _varint(8) + b"to the end, with a FIN")                         # STREAM to the end
    streams, beside = frames(payload)
    assert streams == [(4, 10, b"abc", False), (8, 0, b"to the end, with a FIN", True)]
    assert beside == b"CHALLENGtoken"
    _, rest = frames(b"\x01" + b"\x40\x99" + b"unknown frame type, and what follows")
    assert rest == b"\x40\x99unknown frame type, and what follows"


def test_a_stream_in_any_order_gives_its_body_whole():
    body = random.Random(1).randbytes(50_000)
    stream = _h3(body, 7)
    pieces = [(at, stream[at:at + 1200]) for at in range(0, len(stream), 1200)]
    random.Random(2).shuffle(pieces)
    reader = StreamReader(h3=True)
    got, other = b"", b""
    for offset, data in pieces + pieces[:5]:           # and some sent again
        b, o = reader.add(offset, data)
        got, other = got + b, other + o
    assert got == body and other == b"\x00\x00\xd1\xd7\x50" and not reader.lost


def test_a_gap_never_filled_is_counted_and_the_stream_read_on():
    reader = StreamReader(h3=False)
    assert reader.add(0, b"start ") == (b"", b"start ")
    for n in range(quic_app.MAX_AHEAD_PIECES):
        assert reader.add(1000 + 10 * n, b"0123456789") == (b"", b"")
    body, rest = reader.add(1000 + 10 * quic_app.MAX_AHEAD_PIECES, b"end")
    assert reader.lost == 1000 - 6 and rest == b"0123456789" * quic_app.MAX_AHEAD_PIECES + b"end"
    assert reader.ahead_bytes == 0 and not reader.ahead


def test_bytes_that_are_no_http3_frames_are_read_as_they_are():
    reader = StreamReader(h3=True)
    junk = b"\xff" * 16 + b"not a frame header, a raw protocol on a request stream"
    body, rest = reader.add(0, junk)
    assert body == b"" and rest == junk and not reader.h3


def test_packet_numbers_from_their_truncated_form():
    assert _packet_number(0xA82F30EA, 0x9B32, 16) == 0xA82F9B32       # RFC 9000 A.3's example
    assert _packet_number(-1, 0, 8) == 0 and _packet_number(255, 0x02, 8) == 258


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_any_payload_is_frames_or_bytes_beside_them_never_an_error(payload):
    streams, beside = frames(payload)
    assert sum(len(d) for _, _, d, _ in streams) + len(beside) <= len(payload)


@given(st.lists(st.tuples(st.integers(0, 5000), st.binary(max_size=300)), max_size=80), st.booleans())
@settings(max_examples=200, deadline=None)
def test_any_pieces_in_any_order_never_raise_and_stay_bounded(pieces, h3):
    reader = StreamReader(h3=h3)
    for offset, data in pieces:
        reader.add(offset, data)
        assert len(reader.ahead) <= quic_app.MAX_AHEAD_PIECES and reader.ahead_bytes <= quic_app.MAX_AHEAD
