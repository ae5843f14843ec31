"""FlowContext: how a flow's destination gets its name."""

from sandbox.model import FlowInfo, Segment
from sandbox.protocols import Dissector, FlowContext


def _http_flow(host_header: bytes) -> str:
    d = Dissector()
    req = b"POST /x HTTP/1.1\r\nHost: " + host_header + b"\r\nContent-Length: 2\r\n\r\nhi"
    d.feed(Segment(1.0, "net", "tcp", "10.0.0.5", 40000, "203.0.113.9", 8080, b"", seq=0, flags=0x02))
    d.feed(Segment(1.1, "net", "tcp", "203.0.113.9", 8080, "10.0.0.5", 40000, b"", seq=0, ack=1, flags=0x12))
    d.feed(Segment(1.2, "net", "tcp", "10.0.0.5", 40000, "203.0.113.9", 8080, req, seq=1, ack=1, flags=0x18))
    d.close()
    (info,) = d.flows.values()
    return info.destination


def test_http_host_names_the_destination_without_its_port():
    assert _http_flow(b"Upload.Vendor.example:8080") == "upload.vendor.example"


def test_ipv6_literal_host_is_kept_whole():
    assert _http_flow(b"[2001:DB8::1]") == "[2001:db8::1]"


def test_a_name_already_given_is_not_replaced():
    info = FlowInfo("tcp a", "net", "tcp", "10.0.0.5", 40000, "203.0.113.9", 443, destination="203.0.113.9")
    ctx = FlowContext("tcp a", info, {})
    ctx.name_destination("first.example")
    ctx.name_destination("second.example")  # e.g. SNI first, then an HTTP Host inside the tunnel
    assert info.destination == "first.example"
