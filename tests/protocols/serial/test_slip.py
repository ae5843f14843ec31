"""SLIP and compressed SLIP on a line, detail by detail (whole sessions: the link conformance suite)."""

from __future__ import annotations

import random

import sliplib

from sandbox.captures.writer import ipv4, ipv6, tcp_segment, udp_datagram
from sandbox.protocols.serial.slip import SlipLink, ip_packet, unescape
from sandbox.protocols.serial.transfer import Packet, Unclaimed, Unread

TCP = ipv4("10.64.64.2", "192.0.2.9", 6, tcp_segment("10.64.64.2", "192.0.2.9", 40000, 80, 1, 1, 0x18, b"\xc0\xdb" * 20))
UDP6 = ipv6("2001:db8::2", "2001:db8::9", 17, udp_datagram("2001:db8::2", "2001:db8::9", 5000, 53, b"query"))


def test_escapes_as_linux_reads_them():
    assert unescape(b"a\xdb\xdcb\xdb\xddc") == b"a\xc0b\xdbc"
    assert unescape(b"a\xdbxb") == b"axb"                 # ESC before another byte: the ESC is dropped
    assert unescape(b"a\xdb\xdb\xdc") == b"a\xc0"        # and a second ESC keeps it pending
    assert unescape(sliplib.Driver().send(TCP)[:-1]) == TCP


def test_a_packet_is_taken_when_its_headers_and_checksums_vouch_for_it():
    assert ip_packet(TCP) == TCP and ip_packet(UDP6) == UDP6
    assert ip_packet(TCP[:-1]) is None                   # the total length says otherwise
    bad = bytearray(TCP)
    bad[8] ^= 1                                           # the header checksum fails
    assert ip_packet(bytes(bad)) is None
    noisy = bytearray(TCP)
    noisy[-1] ^= 1                                        # its TCP checksum fails: the host drops it
    link = SlipLink("out")
    events = link.feed("out", b"\xc0" + sliplib.Driver().send(bytes(noisy)) + b"\xc0" + sliplib.Driver().send(TCP))
    assert [ev.data for ev in events if isinstance(ev, Packet)] == [TCP]
    assert [ev for ev in events if isinstance(ev, Unclaimed)]     # the damaged one went raw


def test_where_a_link_starts_and_random_bytes_never_start_one():
    framed = b"\xc0" + sliplib.Driver().send(UDP6)
    assert SlipLink.find(b"boot ok\r\n" + framed) == (9, 9)
    assert SlipLink.find(sliplib.Driver().send(UDP6))[0] == -1      # no END before it: not delimited
    rng = random.Random(3)
    assert SlipLink.find(bytes(rng.randrange(256) for _ in range(1 << 20)))[0] == -1


def test_compressed_tcp_of_a_connection_never_seen_is_unread():
    link = SlipLink("out")
    link.feed("out", b"\xc0" + sliplib.Driver().send(UDP6))
    events = link.feed("out", b"\xc0" + sliplib.Driver().send(bytes([0x80 | 0x40 | 0x10, 3, 0x12, 0x34]) + b"data"))
    assert [ev.what for ev in events if isinstance(ev, Unread)] == [
        "TCP segments whose compressed headers could not be rebuilt (Van Jacobson: a connection not seen "
        "from its start, or a packet before them lost)"]
    assert b"data" in b"".join(ev.data for ev in events if isinstance(ev, Unclaimed))


def test_bytes_that_may_be_compressed_tcp_do_not_keep_a_link_up():
    """After a SLIP link, bytes full of END with a high byte after each (each may be compressed TCP of
    a connection never seen: unread) do not hold the line: past the limit the link gives up, and an
    XMODEM transfer in what it gives back is decoded."""
    from sandbox.model import Payload, Segment
    from sandbox.protocols import Dissector
    from sandbox.protocols.serial.link import UNFRAMED_LIMIT
    from tests.protocols.serial.test_xmodem import block

    rng = random.Random(4)
    junk = b"".join(b"\xc0" + bytes([0x80 | rng.randrange(128)]) + rng.randbytes(30) for _ in range(UNFRAMED_LIMIT // 16))
    body = b"ACGT" * 256
    chunks = [b"\xc0" + sliplib.Driver().send(UDP6), junk, block(1, body) + block(2, body) + b"\x04"]
    dis, items = Dissector(), []
    for t, data in enumerate(chunks):
        items += dis.feed(Segment(1000.0 + t, "serial", "serial", "/dev/ttyS1", 0, "/dev/ttyUSB0", 0, data,
                                  meta={"direction": "out"}))
    items += dis.close()
    assert b"".join(p.data for p in items if isinstance(p, Payload) and p.chain == ("serial", "xmodem")) == body * 2
