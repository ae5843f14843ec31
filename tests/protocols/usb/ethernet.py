"""Shared by the USB network function tests: Ethernet frames of DNS queries, and a context to run in."""

from __future__ import annotations

from sandbox.captures.writer import ethernet, ip_packet, udp_datagram
from sandbox.model import FlowInfo
from sandbox.protocols.context import INJECTED, FlowContext
from sandbox.simulate.wire import dns_query


def dns_frame(n: int) -> bytes:
    query = dns_query(0x100 + n, f"q{n}.leak.example")
    return ethernet(ip_packet("10.20.0.5", "10.20.0.1", 17, udp_datagram("10.20.0.5", "10.20.0.1", 5000 + n, 53, query)))


def context(name: str) -> FlowContext:
    info = FlowInfo(flow="usb host > 1.6", channel="usb", transport="usb", src="host", sport=0, dst="1.6", dport=0,
                    destination="usb 1.6")
    return FlowContext(flow=info.flow, info=info, shared={}, chain=("usb 1.6", name), channel="usb")


def injected(ctx: FlowContext) -> list:
    return list(ctx.shared.get(INJECTED, ()))
