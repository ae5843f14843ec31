"""Run by mitmproxy's own Python (``tests/hw/net/test_addon.py``): each addon hook that holds what
the instrument sent is called with mitmproxy's test flows and a judge that fails or allows; prints,
as JSON, what became of each (refused or passed)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from mitmproxy.connection import Server  # noqa: E402
from mitmproxy.proxy.mode_specs import ProxyMode  # noqa: E402
from mitmproxy.proxy.server_hooks import ServerConnectionHookData  # noqa: E402
from mitmproxy.tcp import TCPMessage  # noqa: E402
from mitmproxy.test import taddons, tflow  # noqa: E402
from mitmproxy.udp import UDPMessage  # noqa: E402
from mitmproxy.websocket import WebSocketMessage  # noqa: E402
from wsproto.frame_protocol import Opcode  # noqa: E402

from hw.net.addon import SandboxTap  # noqa: E402

READS = b"@r1\nACGTTGCAAGGCTTACGATCGGATCC\n+\nIIIIIIIIIIIIIIIIIIIIIIIIIII\n"


class FailingJudge:
    async def ask(self, question: dict) -> dict:
        raise RuntimeError("the judge broke")


class AllowingJudge:
    async def ask(self, question: dict) -> dict:
        return {"allow": True, "reason": ""}


def tunnelled(flow):
    """A flow inside a WireGuard tunnel (where UDP and DNS are held)."""
    flow.client_conn.proxy_mode = ProxyMode.parse("wireguard")
    return flow


async def outcomes(judge) -> dict[str, bool]:
    """Hook name -> whether what it held was refused."""
    tap = SandboxTap()
    refused: dict[str, bool] = {}
    with taddons.context(tap):
        tap.judge = judge
        request = tflow.tflow()
        await tap.request(request)
        refused["request"] = request.error is not None
        dns = tunnelled(tflow.tdnsflow())
        await tap.gate_dns(dns)
        refused["gate_dns"] = dns.error is not None
        tcp = tflow.ttcpflow(messages=[TCPMessage(True, READS)])
        await tap.tcp_message(tcp)
        refused["tcp_message"] = tcp.messages[-1].content == b"" and tcp.client_conn.id in tap.cut
        udp = tunnelled(tflow.tudpflow(messages=[UDPMessage(True, READS)]))
        await tap.udp_message(udp)
        refused["udp_message"] = udp.messages[-1].content == b"" and udp.client_conn.id in tap.cut
        ws = tflow.twebsocketflow(messages=False)
        ws.websocket.messages = [WebSocketMessage(Opcode.BINARY, True, READS)]
        await tap.websocket_message(ws)
        refused["websocket_message"] = ws.websocket.messages[-1].dropped
        connect = ServerConnectionHookData(server=Server(address=("cloud.example", 443)), client=tflow.tclient_conn())
        await tap.server_connect(connect)
        refused["server_connect"] = connect.server.error is not None
    return refused


async def main() -> None:
    print(json.dumps({"failing": await outcomes(FailingJudge()), "allowing": await outcomes(AllowingJudge())}))


if __name__ == "__main__":
    asyncio.run(main())
