"""ARCNET: RFC 1051 and RFC 1201 framing (exception packets too), BSD and Linux headers; a real capture."""

from __future__ import annotations

from sandbox.captures.writer import ip_packet, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

BSD, LINUX = 7, 129


def _ip() -> bytes:
    return ip_packet("10.0.0.1", "10.0.0.2", 17, udp_datagram("10.0.0.1", "10.0.0.2", 7, 8, b"inside"))


def test_rfc1051_rfc1201_and_exception_packets():
    for link, offset in ((BSD, b""), (LINUX, b"\x00\x00")):
        stations = b"\x01\x02" + offset
        assert decode(stations + b"\xf0" + _ip(), link)[0].data == b"inside"
        assert decode(stations + b"\xd4\x00\x00\x01" + _ip(), link)[0].data == b"inside"
        exception = b"\xd4\xff\xff\xff\xd4\x00\x00\x01"
        assert decode(stations + exception + _ip(), link)[0].data == b"inside"
        assert outcome(stations + b"\xdd\x00\x00\x01" + bytes(40), link) == "ARCNET protocol 221"


def test_real_arcnet_capture(shared_data):
    ours = same_as_tshark(shared_data / "captures/public-traces/tcpdump__arcnet-rfc1051-arp-icmp-http.pcap")
    assert [c for c in ours if c[0] == "tcp"]
