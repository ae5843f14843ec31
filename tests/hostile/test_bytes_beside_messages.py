"""Reads sent beside a protocol's messages, in bytes a peer that follows the RFC ignores and the
instrument's own server reads: HTTP/2 padding that is not zeros, a GOAWAY's debug data, frames of a
type nobody registered; HTTP/1.1 chunk extensions and trailers; a DNS query's EDNS options.  Each
replayed clean (the parsers dropped them, or trusted a structured record as carrying no data); now
they are scanned and the upload is a leak naming the sample."""

from __future__ import annotations

import base64
import gzip

import h2.config
import h2.connection
import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation, udp
from sandbox.replay import replay
from tests.hostile.uploads import ALLOWED


def frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def client_preamble() -> bytes:
    """A real client's preface, SETTINGS and a GET on stream 1 (h2's encoder, so HPACK is right)."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":path", "/status"), (":scheme", "http"),
                          (":authority", "lims.lab.example")], end_stream=True)
    return conn.data_to_send()


HIDING = {
    "padding": lambda piece: frame(0x0, 0x8, 1, bytes([len(piece)]) + piece),          # DATA: padding only
    "extension frame": lambda piece: frame(0xF3, 0, 0, piece),
    "goaway debug data": lambda piece: frame(0x7, 0, 0, bytes(8) + piece),
}


@pytest.mark.parametrize("how", HIDING)
def test_reads_outside_http2_streams_are_a_leak(reads, how):
    tmp, run, fastq = reads
    pieces = [fastq[i:i + 255] for i in range(0, len(fastq), 255)]
    path = tmp / f"{how}.pcap"
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        c.send(client_preamble() + b"".join(HIDING[how](piece) for piece in pieces))
        c.close()
    report = replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", how
    [leak] = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["samples"] == ["PT5699-T1"] and leak["chain"][-1] == "http/2 padding and extension frames"


@pytest.mark.parametrize("where", ["extensions", "trailers", "one long extension"])
def test_reads_in_http1_chunk_extensions_and_trailers_are_a_leak(reads, where):
    """HTTP/1.1's chunked framing has room of its own: ``;name=value`` after each chunk's size (a
    server ignores extensions it does not know) and header lines after the last chunk.  One extension
    of base64 longer than a size line's 4 KiB made the framing fail, the line's bytes dropped (and its
    "+" became spaces, read as a form)."""
    tmp, run, fastq = reads
    lines = [fastq[i:i + 2000].replace(b"\n", b"|") for i in range(0, len(fastq), 2000)]
    if where == "extensions":
        body = b"".join(b"1;x=%s\r\na\r\n" % line for line in lines) + b"0\r\n\r\n"
    elif where == "one long extension":
        body = b"1;sig=%s\r\na\r\n0\r\n\r\n" % base64.b64encode(gzip.compress(fastq))
    else:
        body = b"1\r\na\r\n0\r\n" + b"".join(b"x-trace-%d: %s\r\n" % (i, line) for i, line in enumerate(lines)) + b"\r\n"
    path = tmp / f"chunked-{where}.pcap"
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        c.send(b"POST /up HTTP/1.1\r\nHost: lims.lab.example\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        c.close()
    report = replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", where
    [leak] = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["samples"] == ["PT5699-T1"] and "chunk extensions and trailers" in leak["chain"]


def test_reads_in_the_edns_options_of_queries_are_a_leak(reads):
    """A query carries an OPT pseudo-record whose options are the sender's: a resolver of the
    instrument's own reads an option code nobody registered (65001, local use)."""
    tmp, run, fastq = reads
    path = tmp / "edns.pcap"
    with PcapWriter(path) as w:
        for i, off in enumerate(range(0, len(fastq), 1000)):
            chunk = fastq[off:off + 1000]
            option = (65001).to_bytes(2, "big") + len(chunk).to_bytes(2, "big") + chunk
            query = ((i + 1).to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01"
                     + b"\x06status\x03lab\x07example\x00\x00\x01\x00\x01"
                     + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00" + len(option).to_bytes(2, "big") + option)
            udp(w, ("10.0.0.2", 40000 + i), (ALLOWED, 53), query, 1.0 + i / 100)
    report = replay([path], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak"
    [leak] = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert leak["samples"] == ["PT5699-T1"] and leak["chain"][-1] == "dns record OPT"
