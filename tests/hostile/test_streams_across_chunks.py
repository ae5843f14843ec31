"""A compressed stream that runs on past the first chunk of a flow, reads deep inside it.

A flow no parser knows is handed on in chunks of 64 KiB, an FTP data connection in pieces of as many,
each decoded on its own.  40 kB of reads after 70 kB of incompressible bytes inside one zlib stream
(a vendor's socket compressed end to end), inside a gzip member that starts after a header of the
vendor's own, or inside FTP's ``MODE Z`` (one deflate stream for the whole transfer): each replayed
CLEAN, the chunks after the first starting in the middle of the stream.  Now the stream is followed
from chunk to chunk and the reads are a leak.

So did the same stream written as text: base64 of a gzip of those reads on a port no parser knows, hex
of it in an SQL statement's bytea literal, and reads base64-encoded after a three-byte header (every
chunk after the first off base64's alignment).  Now the run is decoded on from chunk to chunk.

And so did a gzip of reads behind 150 kB of noise sent a message at a time: WebSocket messages of 16
kB, a gRPC client-streaming upload (each message a protobuf of the file's name and a 32 kB chunk, the
pattern gRPC's own examples teach), HTTP requests of 32 kB each: every message was decoded on its own.
Now a direction's messages are read one after another as one stream.

So did the same chunks with a status report between them (a text message of progress after each
binary WebSocket message, a JSON POST to ``/status`` after each chunk POSTed to ``/upload/.../chunk/N``):
the report broke the stream.  Now messages are followed by key (a request's method and path, its
numbers aside; a WebSocket message's opcode), and long and short messages apart.
"""

from __future__ import annotations

import base64
import gzip
import random
import zlib

import pytest

from sandbox.captures.writer import PcapWriter, TcpConversation
from sandbox.replay import replay
from sandbox.simulate import wire
from tests.hostile.uploads import ALLOWED

JUNK = random.Random(9).randbytes(70000)


def _raw(path, data: bytes) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 7777), t0=1.0)
        c.send(data)
        c.close()


def _ftp_mode_z(path, data: bytes) -> None:
    with PcapWriter(path) as w:
        ctl = TcpConversation(w, ("10.0.0.2", 50001), (ALLOWED, 21), t0=1.0)
        ctl.send(b"220 LIMS FTP\r\n", from_client=False)
        ctl.send(b"USER sequencer\r\n")
        ctl.send(b"230 Logged in\r\n", from_client=False)
        ctl.send(b"MODE Z\r\n")
        ctl.send(b"200 MODE Z ok\r\n", from_client=False)
        ctl.send(b"PASV\r\n")
        ctl.send(b"227 Entering Passive Mode (192,0,2,9,117,49).\r\n", from_client=False)
        ctl.send(b"STOR run42/telemetry.bin\r\n")
        ctl.send(b"150 Ok to send data\r\n", from_client=False)
        dat = TcpConversation(w, ("10.0.0.2", 50002), (ALLOWED, 30001), t0=2.0)
        dat.send(data)
        dat.close()
        ctl.send(b"226 Transfer complete\r\n", from_client=False)
        ctl.close()


def _websocket(path, data: bytes, progress: bool = False) -> None:
    """Chunks of 16 kB as binary messages (each followed by a text message reporting progress)."""
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        request, answer = wire.websocket_upgrade("/stream", "lims.lab.example", bytes(range(16)))
        c.send(request)
        c.send(answer, from_client=False)
        for n, at in enumerate(range(0, len(data), 16384)):
            c.send(wire.websocket_frame(data[at: at + 16384], False, b"\x01\x02\x03\x04"))
            if progress:
                c.send(wire.websocket_frame(b'{"progress": %d}' % n, True, b"\x01\x02\x03\x04"))
        c.close()


def _grpc_stream(path, data: bytes) -> None:
    client = wire.grpc_client_stream("lims.lab.example", "/files.Upload/Put", [
        wire.protobuf_field(1, b"run42.fastq.gz") + wire.protobuf_field(2, data[at: at + 32768])
        for at in range(0, len(data), 32768)])
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 50051), t0=1.0)
        c.send(client)
        c.send(wire.h2_frame(wire.H2_SETTINGS, 0, 0), from_client=False)
        c.close()


def _http_parts(path, data: bytes) -> None:
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        for n, at in enumerate(range(0, len(data), 32768)):
            part = data[at: at + 32768]
            c.send(b"POST /upload?part=%d HTTP/1.1\r\nHost: lims.lab.example\r\nContent-Length: %d\r\n\r\n%s"
                   % (n, len(part), part))
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
        c.close()


def _http_chunks_with_status(path, data: bytes) -> None:
    """Chunks of 16 kB POSTed to numbered paths, each followed by a status report (JSON) elsewhere."""
    with PcapWriter(path) as w:
        c = TcpConversation(w, ("10.0.0.2", 40000), (ALLOWED, 80), t0=1.0)
        for n, at in enumerate(range(0, len(data), 16384)):
            for target, body in ((b"/upload/run42/chunk/%d" % n, data[at: at + 16384]),
                                 (b"/status", b'{"progress": %d, "state": "uploading"}' % n)):
                c.send(b"POST %s HTTP/1.1\r\nHost: lims.lab.example\r\nContent-Length: %d\r\n\r\n%s"
                       % (target, len(body), body))
                c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", from_client=False)
        c.close()


NOISE = random.Random(11).randbytes(150_000)
CASES = {
    "a zlib stream that is the flow": (_raw, lambda reads: zlib.compress(JUNK + reads)),
    "a gzip member after a header": (_raw, lambda reads: b"VNDR\x00\x02" + bytes(90000) + gzip.compress(JUNK + reads)),
    "ftp mode z": (_ftp_mode_z, lambda reads: zlib.compress(JUNK + reads)),
    "base64 of a gzip": (_raw, lambda reads: base64.b64encode(gzip.compress(JUNK + reads))),
    "hex of a gzip in sql": (_raw, lambda reads: b"INSERT INTO runs VALUES ('\\x"
                             + gzip.compress(JUNK + reads).hex().encode() + b"');\n"),
    "base64 off its alignment": (_raw, lambda reads: b"ab\n" + base64.b64encode(JUNK + reads)),
    "websocket messages": (_websocket, lambda reads: gzip.compress(NOISE + reads)),
    "grpc client stream": (_grpc_stream, lambda reads: gzip.compress(NOISE + reads)),
    "http requests in parts": (_http_parts, lambda reads: gzip.compress(NOISE + reads)),
    "websocket messages with progress between": (lambda path, data: _websocket(path, data, progress=True),
                                                  lambda reads: gzip.compress(NOISE + reads)),
    "http chunks with status reports between": (_http_chunks_with_status, lambda reads: gzip.compress(NOISE + reads)),
}


@pytest.mark.parametrize("name", CASES)
def test_reads_deep_in_a_stream_that_spans_chunks_are_a_leak(reads, name):
    tmp, run, fastq = reads
    write, make = CASES[name]
    capture = tmp / f"{name.replace(' ', '-')}.pcap"
    write(capture, make(fastq))
    report = replay([capture], [run], allow=[ALLOWED], cache_dir=tmp / "cache", jobs=1).report
    assert report["verdict"] == "leak", name
    assert any(f["severity"] in ("high", "critical") and any(" stream" in c for c in f["chain"])
               for f in report["findings"]), [(f["kind"], f["chain"]) for f in report["findings"]]
