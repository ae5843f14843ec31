"""IP in IP: 4in4, 6in4, 4in6, 6in6 and deeper nesting, up to the layer bound; real captures."""

from __future__ import annotations

from sandbox.captures.ip import MAX_LAYERS
from sandbox.captures.writer import ethernet, ip_packet, udp_datagram
from tests.captures.conversations import same_as_tshark
from tests.captures.frames import decode, outcome

TRACES = "captures/public-traces"
V4, V6 = ("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")


def _inner(pair: tuple[str, str]) -> bytes:
    return ip_packet(*pair, 17, udp_datagram(*pair, 7, 8, b"inside"))


def _wrap(packet: bytes, outer: tuple[str, str]) -> bytes:
    return ip_packet(*outer, 4 if packet[0] >> 4 == 4 else 41, packet)


def test_every_family_pair():
    for outer in (V4, V6):
        for inner in (V4, V6):
            seg, _ = decode(ethernet(_wrap(_inner(inner), outer)))
            assert (seg.src, seg.data) == (inner[0], b"inside")


def test_nesting_is_followed_up_to_the_layer_bound():
    packet = _inner(V4)
    for _ in range((MAX_LAYERS - 1) // 2):      # each tunnel is two layers: its IP header and the inner one
        packet = _wrap(packet, V6)
    assert decode(ethernet(packet))[0].data == b"inside"
    packet = _wrap(packet, V4)
    assert outcome(ethernet(packet)) == f"frames nested deeper than {MAX_LAYERS} layers"


def test_real_tunnel_captures(shared_data):
    assert same_as_tshark(shared_data / TRACES / "zeek__tunnels__4in6.pcap") == {
        ("tcp", frozenset({("70.55.213.211", 31337), ("192.88.99.1", 80)}))}
    assert same_as_tshark(shared_data / TRACES / "zeek__tunnels__6in6in6.pcap") == {
        ("udp", frozenset({("cafe::babe", 13000), ("dead::beef", 30000)}))}
