"""DNS over HTTPS (RFC 8484) and the JSON API: the queries inside HTTP requests read as DNS."""

from __future__ import annotations

import base64

import dns.message
import h2.config
import h2.connection

from sandbox.model import Observation, Payload
from sandbox.protocols.doh import messages, query_wire
from sandbox.protocols.http1 import Http1Parser
from sandbox.protocols.http2 import Http2Parser
from tests.protocols.test_stream_parsers_conformance import make_ctx, run

HEXED = [bytes(range(n, n + 38)).hex() for n in range(0, 200, 38)]
NAMES = [f"{h[:60]}.{h[60:]}.r{n}.t.exfil.test" for n, h in enumerate(HEXED)]


def _query(name: str, qtype: str = "A") -> bytes:
    return dns.message.make_query(name, qtype).to_wire()


def _post(body: bytes) -> bytes:
    return (b"POST /dns-query HTTP/1.1\r\nHost: dns.lab.example\r\nContent-Type: application/dns-message\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def _get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: dns.lab.example\r\nAccept: application/dns-message\r\n\r\n".encode()


OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: 0\r\n\r\n"


def _dns(items: list) -> tuple[list[Payload], list[Observation]]:
    return ([p for p in items if isinstance(p, Payload) and "doh" in p.chain],
            [o for o in items if isinstance(o, Observation)])


def _qname_data(payloads: list[Payload]) -> bytes:
    return b"".join(p.data for p in payloads if p.chain[-1] == "dns qname")


def test_posted_queries_are_dns_queries():
    conv = [x for name in NAMES for x in (("out", _post(_query(name))), ("in", OK))]
    ctx = make_ctx()
    payloads, _ = _dns(run(Http1Parser, conv, ctx))
    assert ctx.info.app == "http/1.1"
    assert {p.chain for p in payloads} == {("tcp", "doh", "dns query A"), ("tcp", "doh", "dns qname")} | {
        ("tcp", "doh", field, "messages joined") for field in ("dns id", "dns question type", "dns question class")}
    assert _qname_data(payloads) == "".join(HEXED).encode()     # the labels joined back into one stream
    assert {p.destination for p in payloads if "messages joined" not in p.chain} == {"exfil.test"}
    assert {p.destination for p in payloads if "messages joined" in p.chain} == {"dns.lab.example"}   # the resolver's


def test_get_and_json_queries_are_dns_queries():
    gets = [_get("/dns-query?dns=" + base64.urlsafe_b64encode(_query(n)).decode().rstrip("=")) for n in NAMES[:3]]
    json_api = [_get(f"/resolve?name={n}&type=TXT") for n in NAMES[3:]]
    conv = [x for req in gets + json_api for x in (("out", req), ("in", OK))]
    payloads, _ = _dns(run(Http1Parser, conv))
    assert _qname_data(payloads) == "".join(HEXED).encode()
    assert {p.chain[-1] for p in payloads} >= {"dns query A", "dns query TXT"}


def test_http2_queries_are_dns_queries():
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    for n, name in enumerate(NAMES):
        sid = 1 + 2 * n
        client.send_headers(sid, [(":method", "POST"), (":path", "/dns-query"), (":scheme", "https"),
                                  (":authority", "dns.lab.example"), ("content-type", "application/dns-message")])
        client.send_data(sid, _query(name), end_stream=True)
    payloads, _ = _dns(run(Http2Parser, [("out", client.data_to_send())]))
    assert _qname_data(payloads) == "".join(HEXED).encode()


def test_what_is_not_dns_is_left_to_the_scan():
    head = Payload(data=b"x", chain=("tcp", "x", "url"), flow="f", direction="out", t_first=1.0, t_last=1.0,
                   channel="net", destination="d", meta={"head": True, "path": "/search?dns=aGVsbG8&q=1"})
    assert messages(head) == []                                   # "hello" is no DNS message
    body = Payload(data=b"plain text", chain=("tcp", "x"), flow="f", direction="out", t_first=1.0, t_last=1.0,
                   channel="net", destination="d", meta={"content-type": "application/dns-message"})
    assert messages(body) == []
    assert query_wire("a" * 64 + ".example", 1) is None and query_wire("", 1) is None
    ctx = make_ctx()
    run(Http1Parser, [("out", _get("/search?dns=aGVsbG8"))], ctx)
    assert not ctx.info.errors


def test_answers_are_not_read():
    answer = dns.message.make_response(dns.message.from_wire(_query(NAMES[0]))).to_wire()
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: %d\r\n\r\n%s"
                % (len(answer), answer))
    payloads, _ = _dns(run(Http1Parser, [("out", _post(_query(NAMES[0]))), ("in", response)]))
    assert payloads and all(p.direction == "out" for p in payloads)


def test_a_doh_core_is_not_counted_among_the_dns_parsers_the_zones_wait_for():
    """The HTTP parser holding it may be replaced without closing it (a parser that fails goes raw):
    a count it left would keep the zones of every DNS flow from being judged at the end."""
    from sandbox.protocols.dns import tracker

    ctx = make_ctx()
    parser = Http1Parser(ctx)
    parser.feed("out", _post(_query(NAMES[0])), 1.0)
    assert parser.doh.core is not None and tracker(ctx.shared).open_parsers == 0
    assert ctx.info.app == "http/1.1"
