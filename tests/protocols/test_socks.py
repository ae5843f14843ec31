"""SOCKS CONNECT targets: the name a SOCKS proxy was asked for, read from the raw lane's first bytes."""

from __future__ import annotations

import struct

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.protocols.socks import socks_target
from tests.protocols.test_dns import dissect_file


def socks5(host: str, port: int = 443) -> bytes:
    name = host.encode()
    return b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", port)


def test_the_request_shapes():
    assert socks_target(socks5("lims.lab.example")) == "lims.lab.example"
    assert socks_target(b"\x05\x01\x00" + socks5("a.example")) == "a.example"        # greeting in the same segment
    assert socks_target(b"\x05\x01\x00\x01" + bytes([198, 51, 100, 7]) + b"\x01\xbb") == "198.51.100.7"
    assert socks_target(b"\x05\x01\x00\x04" + bytes(15) + b"\x01" + b"\x01\xbb") == "::1"
    assert socks_target(b"\x04\x01\x01\xbb" + bytes([198, 51, 100, 7]) + b"user\x00") == "198.51.100.7"
    assert socks_target(b"\x04\x01\x01\xbb\x00\x00\x00\x01user\x00b.example\x00") == "b.example"   # SOCKS4a
    for junk in (b"", b"\x05", socks5("a.example") + b"x", socks5("a.example")[:-1], b"\x05\x02\x00\x03\x01a\x01\xbb",
                 b"\x04\x01\x01\xbb\x00\x00\x00\x01\x00", b"GET / HTTP/1.1\r\n\r\n", bytes(range(256))):
        assert socks_target(junk) is None, junk


def test_the_flow_records_what_its_socks_proxy_was_asked_for(tmp_path):
    """curl --socks5-hostname: greeting, the proxy's choice, the request, its answer, then TLS."""
    from sandbox.simulate import wire

    pcap = tmp_path / "socks.pcap"
    with PcapWriter(pcap) as w:
        conv = TcpConversation(w, ("10.0.0.2", 40000), ("127.0.0.1", 1080), t0=1.0)
        conv.send(b"\x05\x01\x00")
        conv.send(b"\x05\x00", from_client=False)
        conv.send(socks5("lims.lab.example"))
        conv.send(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", from_client=False)
        conv.send(wire.client_hello("lims.lab.example", bytes(32), bytes(32)))
        conv.close()
    _, d = dissect_file(pcap)
    (flow,) = d.flows.values()
    assert flow.meta["proxied"] == ["lims.lab.example"] and flow.meta["names"] == ["lims.lab.example"]
    assert flow.app == "tls"
