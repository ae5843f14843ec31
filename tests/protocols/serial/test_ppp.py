"""PPP on a line, detail by detail: the frame check, the fields a link may compress, what control
frames carry, Deflate's history across packets sent uncompressed and resets, what stays unread, and
how a link ends (the sessions as a whole are in the link conformance suite)."""

from __future__ import annotations

import zlib

from sandbox.model import NOT_EXAMINED_KIND, Observation, Payload, Segment
from sandbox.protocols import Dissector
from sandbox.protocols.serial.link import UNFRAMED_LIMIT
from sandbox.protocols.serial.ppp import PppLink, fcs16, protocol, verified
from sandbox.protocols.serial.transfer import Packet, Released, Unclaimed, Unread
from sandbox.simulate.ppp import (
    CCP,
    CONFIGURE_ACK,
    DEFLATE_OPTION,
    LCP,
    DeflateCompressor,
    control,
    hdlc,
    ppp,
)
from tests.protocols.serial.test_xmodem import block

IP = bytes.fromhex("4500001c000040004011" "0000" "0a404002c0000209") + bytes(8)    # a UDP header, no data
ECHO_REQUEST, DISCARD_REQUEST, TERMINATE_ACK, RESET_ACK = 9, 11, 6, 15


def feed(*frames: bytes, direction: str = "out") -> tuple[PppLink, list]:
    link = PppLink(direction)
    events = link.feed(direction, b"".join(frames))
    return link, events


def test_the_frame_check_is_rfc_1662s_either_width():
    assert fcs16(b"123456789") == 0x906E                  # CRC-16/X.25's check value
    frame = ppp(0x0021, IP)
    assert verified(hdlc(frame)[1:-1]) == frame
    assert verified(hdlc(frame, fcs32=True)[1:-1]) == frame
    damaged = bytearray(hdlc(frame)[1:-1])
    damaged[10] ^= 4
    assert verified(bytes(damaged)) is None
    assert verified(hdlc(frame)[1:-2] + b"\x7d") is None  # an aborted frame (7D 7E)


def test_control_characters_a_receiver_deletes_and_compressed_fields():
    for accm in (0xFFFFFFFF, 0x000A0000):                 # every control escaped; XON and XOFF only
        frame = hdlc(ppp(0x0021, IP), accm=accm)
        junk = frame[:5] + b"\x11\x13" + frame[5:]        # XON/XOFF a modem put in: deleted on receipt
        assert verified(junk[1:-1]) == ppp(0x0021, IP)
    assert protocol(ppp(0x0021, IP)) == (0x0021, 4)
    assert protocol(ppp(0x0021, IP, acfc=True, pfc=True)) == (0x21, 1)
    assert protocol(b"\xff\x03\x00\x20") is None          # a two-byte field must end odd
    assert protocol(b"\xff\x03") is None


def test_packets_and_control_bodies_and_where_a_link_starts():
    echo = hdlc(ppp(LCP, control(ECHO_REQUEST, 1, b"\0\0\0\0" + b"PT9936-T1 ACGTACGT")))
    start = b"login: " + echo
    assert PppLink.find(start) == (7, 7)
    assert PppLink.find(b"~~ no frame here ~")[0] == -1
    _, events = feed(echo, hdlc(ppp(0x0021, IP)), hdlc(ppp(LCP, control(DISCARD_REQUEST, 2, b"more bytes"))))
    assert [ev.data for ev in events if isinstance(ev, Packet)] == [IP]
    raw = b"".join(ev.data for ev in events if isinstance(ev, Unclaimed))
    assert b"PT9936-T1 ACGTACGT" in raw and b"more bytes" in raw     # echo and discard data are scanned


def test_deflate_history_includes_packets_sent_uncompressed_and_resets():
    compressor = DeflateCompressor()
    one, two, three = IP + b"A" * 200, IP + b"B" * 200, IP + b"AB" * 100
    frames = [hdlc(ppp(CCP, control(CONFIGURE_ACK, 1, DEFLATE_OPTION))),
              hdlc(ppp(0x00FD, compressor.compress(0x21, one)))]
    compressor.compress(0x21, two)                        # compressed, but sent as it was (it grew)
    frames.append(hdlc(ppp(0x0021, two)))
    frames.append(hdlc(ppp(0x00FD, compressor.compress(0x21, three))))     # refers back to both
    frames.append(hdlc(ppp(CCP, control(RESET_ACK, 2))))
    compressor = DeflateCompressor()
    frames.append(hdlc(ppp(0x00FD, compressor.compress(0x21, one))))
    _, events = feed(*frames)
    assert [ev.data for ev in events if isinstance(ev, Packet)] == [one, two, three, one]
    assert not [ev for ev in events if isinstance(ev, Unread)]


def test_a_lost_deflate_packet_stops_reading_until_the_reset():
    compressor = DeflateCompressor()
    ack = hdlc(ppp(CCP, control(CONFIGURE_ACK, 1, DEFLATE_OPTION)))
    first = hdlc(ppp(0x00FD, compressor.compress(0x21, IP + b"a" * 100)))
    compressor.compress(0x21, IP + b"b" * 100)             # lost on the line
    third = hdlc(ppp(0x00FD, compressor.compress(0x21, IP + b"a" * 100)))
    _, events = feed(ack, first, third)
    assert [ev.data for ev in events if isinstance(ev, Packet)] == [IP + b"a" * 100]
    assert [ev.what for ev in events if isinstance(ev, Unread)] == ["PPP datagrams compressed with Deflate"]


def test_what_stays_unread_is_said():
    mppe = hdlc(ppp(CCP, control(CONFIGURE_ACK, 1, bytes([18, 6, 0, 0, 0, 0x40]))))
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    huge = bomb.compress(b"\x21" + bytes(200_000)) + bomb.flush(zlib.Z_SYNC_FLUSH)
    _, events = feed(hdlc(ppp(0x00FD, b"\0\0" + huge[:-4])), mppe, hdlc(ppp(0x00FD, b"\0\1sealed")),
                     hdlc(ppp(0x002B, b"IPX datagram")), hdlc(ppp(0x002D, b"\x4f\x03\x00\x00data")))
    assert [ev.what for ev in events if isinstance(ev, Unread)] == [
        "PPP datagrams compressed with an unknown algorithm",      # expands past the largest datagram
        "PPP datagrams compressed with MPPC/MPPE", "IPX over PPP",
        "TCP segments whose compressed headers could not be rebuilt (Van Jacobson: a connection not seen "
        "from its start, or a packet before them lost)"]
    assert b"IPX datagram" in b"".join(ev.data for ev in events if isinstance(ev, Unclaimed))


def test_a_link_ends_at_terminate_ack_or_with_no_frame_for_a_while():
    link, events = feed(hdlc(ppp(LCP, control(TERMINATE_ACK, 1))), b"NO CARRIER\r\n")
    assert not link.done                                  # a frame may yet say it goes on
    assert link.idle() == [Released("out", 16, b"~NO CARRIER\r\n")] and link.done     # the line went quiet
    ack = hdlc(ppp(LCP, control(TERMINATE_ACK, 1)))
    link, events = feed(ack, hdlc(ppp(0x0021, IP)), ack, b"login: " * 20)
    assert [ev.data for ev in events if isinstance(ev, Packet)] == [IP]     # it went on framing: it went on
    assert link.done and events[-1].data.endswith(b"login: ")               # over, then other bytes: over
    link, events = feed(hdlc(ppp(0x0021, IP)), b"x" * (UNFRAMED_LIMIT + 1))
    assert link.done and isinstance(events[-1], Released) and len(events[-1].data) > UNFRAMED_LIMIT
    link = PppLink("out")
    frame = hdlc(ppp(0x0021, IP))
    link.feed("out", frame + frame[:9])
    assert not link.done and link.busy                    # a quiet line is an idle link
    assert [ev.data for ev in link.idle()] == [b"~" + frame[:9]]  # held bytes go raw when it is quiet...
    assert [ev.data for ev in link.feed("out", frame[9:]) if isinstance(ev, Packet)] == [IP]   # ...and stay held


def _line(chunks: list[tuple[str, bytes]], pauses: bool = False) -> list:
    """The line parser through the Dissector; ``pauses``: a second of quiet after every chunk (its idle)."""
    dis, items, t = Dissector(), [], 1000.0
    for direction, data in chunks:
        t += 1.0 if pauses else 0.01
        items += dis.feed(Segment(t, "serial", "serial", "/dev/ttyS1", 0, "/dev/ttyUSB0", 0, data,
                                  meta={"direction": direction}))
        if pauses:
            items += dis.tick(t + 0.9)
    return items + dis.close()


def test_a_file_transfer_after_the_link_is_found_in_the_bytes_it_gave_back():
    body = b"ACGT" * 32
    items = _line([("out", hdlc(ppp(0x0021, IP)) + b"$ " * (UNFRAMED_LIMIT // 2 + 10) + block(1, body)
                    + block(2, body) + b"\x04")])
    files = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("serial", "xmodem"))
    assert files == body * 2


def test_links_that_come_and_go_in_one_read_do_not_recurse():
    cycle = hdlc(ppp(LCP, control(1, 1, b"\x05\x06\0\0\0\1"))) + hdlc(ppp(LCP, control(TERMINATE_ACK, 1)))
    items = _line([("out", cycle * 5000 + b"PT9936-T1 after")])
    text = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("serial",))
    assert text.endswith(b"PT9936-T1 after")


def test_unread_bytes_the_instrument_sent_are_not_examined_rows():
    mppe = hdlc(ppp(CCP, control(CONFIGURE_ACK, 1, bytes([18, 6, 0, 0, 0, 0x40]))))
    items = _line([("out", mppe + hdlc(ppp(0x00FD, b"\0\0" + bytes(range(256)) * 4))),
                   ("in", mppe + hdlc(ppp(0x00FD, b"\0\0" + bytes(range(256)) * 4)))])
    rows = [o for o in items if isinstance(o, Observation) and o.kind == NOT_EXAMINED_KIND]
    assert [(o.detail["what"], o.bytes_out) for o in rows] == [("PPP datagrams compressed with MPPC/MPPE", 1026)]


def test_a_transfer_after_a_link_that_dropped_is_found_and_nothing_goes_raw_twice():
    """No LCP termination (the carrier dropped), a pause, then an XMODEM transfer: the link held and
    sent raw what came after its last frame; when it gives up, those bytes are searched for the
    transfer's start again, and not sent raw a second time."""
    body = bytes(range(256)) * 40
    blocks = b"".join(block(n + 1, body[n * 1024:(n + 1) * 1024]) for n in range(10)) + b"\x04"
    text = b"NO CARRIER\r\nservice> send log\r\n"
    items = _line([("out", hdlc(ppp(0x0021, IP))), ("out", text), ("out", blocks[:5000]), ("out", blocks[5000:]),
                   ("out", b"PT9936-T1 " * (UNFRAMED_LIMIT // 10))], pauses=True)
    files = b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("serial", "xmodem"))
    assert files == body
    stream = bytearray()                # the raw stream, its chunks' overlaps laid over each other
    for p in items:
        if isinstance(p, Payload) and p.chain == ("serial",):
            stream[len(stream):] = bytes(max(0, p.stream_offset + len(p.data) - len(stream)))
            stream[p.stream_offset:p.stream_offset + len(p.data)] = p.data
    assert stream.count(text) == 1 and stream.count(b"PT9936-T1 ") == UNFRAMED_LIMIT // 10
