"""The feed recording our addon writes is pcapng of the proxied link type that the core reads back
byte for byte: heads, body pieces larger than a packet, both directions, IPv4 and IPv6."""

from __future__ import annotations

import os

from hw.net import feed
from hw.net.feed import FeedWriter
from sandbox.captures import open_capture
from sandbox.captures.links import proxied
from sandbox.protocols import Dissector


def test_the_addon_side_and_the_reader_side_share_one_format():
    assert (feed.LINKTYPE, feed.HEADER.format, feed.MAGIC, feed.VERSION, feed.KIND_TLS, feed.KIND_UDP,
            feed.FROM_CLIENT, feed.ONLY_RECORD) == (proxied.LINKTYPE, proxied.HEADER.format, proxied.MAGIC,
                                                    proxied.VERSION, proxied.KIND_TLS, proxied.KIND_UDP,
                                                    proxied.FROM_CLIENT, proxied.ONLY_RECORD)


def test_a_connection_reads_back_as_the_segments_the_core_dissects(tmp_path):
    path = tmp_path / "feed" / "proxied.pcapng"
    w = FeedWriter(path)
    body = os.urandom(3 * feed.PACKET_BYTES + 1234)      # cut into packets, each within the snap length
    w.open(1, ["10.0.0.2", 50000], ["10.0.0.9", 8080], 100.0)
    w.request(1, 100.5, 7, b"PUT", b"/up", "HTTP/1.1", [(b"Host", b"cloud"), (b"Content-Length", b"%d" % len(body))])
    w.body(1, 100.6, 7, body[:1000])
    w.body(1, 100.7, 7, memoryview(body)[1000:])
    w.end(1, 100.8, 7)
    w.response(1, 100.9, 7, 200, b"OK", "HTTP/1.1", [(b"Content-Length", b"2")])
    w.open(2, ["fd00::2", 40000], ["fd00::9", 443], 101.0)
    w.tcp(2, 101.1, True, b"hello over v6")
    w.close(1)
    w.body(1, 102.0, 7, b"after close: dropped")
    w.close_file()
    assert path.stat().st_mode & 0o777 == 0o600

    segs = list(open_capture(path))
    assert all(s.transport == "tls" for s in segs)
    assert max(len(s.data) for s in segs) <= feed.PACKET_BYTES
    first = [s for s in segs if s.sport == 50000]
    assert (first[0].src, first[0].dst, first[0].dport, first[0].t, first[0].data) == (
        "10.0.0.2", "10.0.0.9", 8080, 100.0, b"")
    sent = b"".join(s.data for s in first if s.meta["client"] == "src")
    assert sent.startswith(b"PUT /up HTTP/1.1\r\nHost: cloud\r\n") and sent.endswith(body)
    answer = [s for s in segs if s.sport == 8080]
    assert answer and answer[0].meta["client"] == "dst" and answer[0].data.startswith(b"HTTP/1.1 200 OK")
    v6 = [s for s in segs if s.sport == 40000]
    assert [(s.src, s.dst, s.data) for s in v6][-1] == ("fd00::2", "fd00::9", b"hello over v6")
    assert b"after close" not in b"".join(s.data for s in segs)

    d = Dissector()
    payloads = [p for s in segs for p in d.feed(s)] + d.close()
    assert any(getattr(p, "data", b"") == body for p in payloads)


def test_a_connection_with_no_other_record_counts_its_bytes_as_the_flows_volume(tmp_path):
    """WireGuard mode: the raw recording holds only the tunnel, so the feed's bytes are all the flow
    sent (an allow-list and the opaque-volume rule weigh them); elsewhere the wire's bytes are counted."""
    path = tmp_path / "proxied.pcapng"
    w = FeedWriter(path)
    w.open(1, ["10.0.0.1", 50000], ["10.231.2.2", 22], 100.0, only=True)
    w.tcp(1, 100.1, True, b"SSH-2.0-x\r\n" + os.urandom(5000))
    w.tcp(1, 100.2, False, b"SSH-2.0-y\r\n")
    w.open(2, ["10.0.0.1", 50001], ["10.231.2.2", 443], 100.0)
    w.tcp(2, 100.3, True, b"x" * 700)
    w.close_file()
    d = Dissector()
    for s in open_capture(path):
        d.feed(s)
    d.close()
    flows = {f.dport: f for f in d.flows.values()}
    assert (flows[22].bytes_out, flows[22].bytes_in) == (5011, 11)
    assert (flows[443].bytes_out, flows[443].bytes_in) == (0, 0)


def test_datagrams_inside_a_tunnel_read_back_as_udp_the_core_dissects(tmp_path):
    """WireGuard mode relays the instrument's UDP and DNS inside the tunnel: the feed is their only
    record, so a DNS tunnel or reads in a datagram are examined like on a wire."""
    from sandbox.simulate import wire

    path = tmp_path / "proxied.pcapng"
    w = FeedWriter(path)
    client, resolver, sink = ["10.0.0.1", 53000], ["10.0.0.53", 53], ["fd00::9", 9999]
    w.datagram(client, resolver, 100.0, True, wire.dns_query(7, "lims.lab.example"))
    w.datagram(client, resolver, 100.1, False, wire.dns_answer(7, "lims.lab.example", "198.51.100.10"))
    reads = b"@read1\nACGT\n+\nIIII\n" * 50
    w.datagram(["fd00::2", 40000], sink, 100.2, True, reads)
    w.close_file()
    segs = list(open_capture(path))
    assert [(s.transport, s.src, s.dport, s.meta) for s in segs] == [
        ("udp", "10.0.0.1", 53, {"client": "src", "only": True}),
        ("udp", "10.0.0.53", 53000, {"client": "dst", "only": True}),
        ("udp", "fd00::2", 9999, {"client": "src", "only": True})]
    d = Dissector()
    payloads = [p for s in segs for p in d.feed(s)] + d.close()
    flows = {f.dport: f for f in d.flows.values()}
    assert flows[53].app == "dns" and (flows[53].src, flows[53].bytes_in) == ("10.0.0.1", len(segs[1].data))
    assert flows[9999].bytes_out == len(reads)
    assert any(b"@read1" in getattr(p, "data", b"") and p.direction == "out" for p in payloads)
