"""The proxied-plaintext link type: the network tap's feed read back as TLS plaintext Segments."""

from __future__ import annotations

import pytest

from sandbox.captures import open_capture
from sandbox.captures.links import proxied
from sandbox.captures.writer import PcapngWriter


def test_packets_read_back_as_tls_plaintext_with_who_opened_the_connection(tmp_path):
    path = tmp_path / "feed.pcapng"
    with PcapngWriter(path, linktype=proxied.LINKTYPE) as w:
        w.write(proxied.frame("10.0.0.2", 50000, "10.0.0.9", 443, b"POST / HTTP/1.1\r\n", True), 1.0)
        w.write(proxied.frame("2001:db8::9", 443, "2001:db8::2", 50001, b"HTTP/1.1 200 OK\r\n", False), 2.0)
        w.write(b"not ours at all, long enough for a header" * 2, 3.0)
    cap = open_capture(path)
    segs = list(cap)
    assert [(s.transport, s.src, s.sport, s.dst, s.dport, s.data, s.meta) for s in segs] == [
        ("tls", "10.0.0.2", 50000, "10.0.0.9", 443, b"POST / HTTP/1.1\r\n", {"client": "src"}),
        ("tls", "2001:db8::9", 443, "2001:db8::2", 50001, b"HTTP/1.1 200 OK\r\n", {"client": "dst"})]
    assert cap.stats.unexamined["link type 162: headers cut short or malformed"] == 1   # never silently dropped


def test_mixed_address_families_are_refused():
    with pytest.raises(ValueError):
        proxied.frame("10.0.0.2", 1, "::1", 2, b"", True)
