"""The feed recording, written by our addon inside mitmdump: what mitmproxy read inside TLS, as pcapng.

Each connection's messages are framed again as their wire form (``reframe``) and written as packets
of the proxied-plaintext link type (``sandbox.captures.links.proxied``), which the session follows
like any live recording.  Record first, at the lowest cost the rig can have on mitmproxy's event
loop: each packet is one ``os.writev`` of its block header, the body piece mitmproxy handed over
(never copied in Python) and the block trailer, straight into the page cache; no socket, no second
process, no per-piece serialisation.  A write that fails (disk full) raises ``OSError``: the addon
then stops the proxy (blind is worse than stopped).

Standard library only (and ``hpack`` through ``reframe``, which mitmproxy itself depends on): this
module runs in mitmproxy's environment.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from pathlib import Path

from hw.net.reframe import OUT, Chunks, Fields, Reframer

# The proxied-plaintext link type (LINKTYPE_USER15) and its packet header; ``sandbox.captures.links.proxied``
# reads them (tests/hw/net/test_feed.py holds the two to one format).
LINKTYPE = 162
HEADER = struct.Struct("!4sBBBBHH16s16s")
MAGIC, VERSION, KIND_TLS, KIND_UDP, FROM_CLIENT, ONLY_RECORD = b"SBXP", 1, 1, 2, 0x01, 0x02
SNAPLEN = 262144          # Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD: every reader accepts packets this big
# Plaintext per packet: inside SNAPLEN with the header; few packets (a block each) for a large body.
PACKET_BYTES = SNAPLEN - 4096
_EPB = struct.Struct("<IIIIIII")     # block type, length, interface, timestamp high/low, captured, original
_SHB = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
_TSRESOL = struct.pack("<HHB3x", 9, 1, 6) + struct.pack("<HH", 0, 0)        # if_tsresol: microseconds
_IDB = struct.pack("<IIHHI", 1, 20 + len(_TSRESOL), LINKTYPE, 0, SNAPLEN) + _TSRESOL + struct.pack(
    "<I", 20 + len(_TSRESOL))
_PAD = [bytes(n) for n in range(4)]
IOV_MAX = 1024            # POSIX's floor for writev's vector, what Linux allows


def _block(header: bytes, piece, hi: int, lo: int) -> list:
    """One Enhanced Packet Block of ``header`` and ``piece`` (never copied), as ``writev`` parts."""
    size = HEADER.size + len(piece)
    pad = -size % 4
    total = 32 + size + pad
    return [_EPB.pack(6, total, 0, hi, lo, size, size) + header, piece, _PAD[pad] + struct.pack("<I", total)]


def _endpoint(addr) -> tuple[int, bytes, int]:
    ip = ipaddress.ip_address(str(addr[0]))
    return ip.version, ip.packed.ljust(16, b"\0"), int(addr[1])


class FeedWriter:
    """One pcapng file of proxied plaintext; ``open`` a connection, then hand it its messages."""

    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # decrypted traffic: private
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self.conns: dict[int, tuple[Reframer, bytes, bytes]] = {}   # number -> reframer, packet headers out, in
        self.packets = 0
        self._write([_SHB + _IDB])

    def _write(self, parts: list) -> None:
        for i in range(0, len(parts), IOV_MAX):
            batch = parts[i: i + IOV_MAX]
            want = sum(len(p) for p in batch)
            n = os.writev(self.fd, batch)
            while n < want:      # a short write (a signal, a full disk about to say so): the rest, in order
                rest, skip = [], n
                for p in batch:
                    if skip >= len(p):
                        skip -= len(p)
                        continue
                    rest.append(memoryview(p)[skip:])
                    skip = 0
                batch, want = rest, want - n
                n = os.writev(self.fd, batch)

    def open(self, conn: int, client, dst, t: float, only: bool = False) -> None:
        """A connection whose plaintext is ours from ``t`` on (an empty packet marks its start);
        ``only``: this is its only record (WireGuard: the raw recording holds just the tunnel)."""
        (fa, a, pa), (fb, b, pb) = _endpoint(client), _endpoint(dst)
        if fa != fb:
            raise ValueError(f"address families differ: {client} > {dst}")
        only_flag = ONLY_RECORD if only else 0
        out = HEADER.pack(MAGIC, VERSION, KIND_TLS, fa, FROM_CLIENT | only_flag, pa, pb, a, b)
        back = HEADER.pack(MAGIC, VERSION, KIND_TLS, fa, only_flag, pb, pa, b, a)
        self.conns[conn] = (Reframer(), out, back)
        self._packets(conn, [(OUT, b"")], t)

    def close(self, conn: int) -> None:
        self.conns.pop(conn, None)

    def request(self, conn: int, t: float, msg: int, method: bytes, target: bytes, version: str, headers: Fields,
                scheme: bytes = b"https", authority: bytes = b"") -> None:
        if (c := self.conns.get(conn)) is not None:
            self._packets(conn, c[0].request(msg, method, target, version, headers, scheme, authority), t)

    def body(self, conn: int, t: float, msg: int, data: bytes) -> None:
        if (c := self.conns.get(conn)) is not None:
            self._packets(conn, c[0].body(msg, data), t)

    def end(self, conn: int, t: float, msg: int, trailers: Fields = ()) -> None:
        if (c := self.conns.get(conn)) is not None:
            self._packets(conn, c[0].end(msg, trailers), t)

    def response(self, conn: int, t: float, msg: int, status: int, reason: bytes, version: str,
                 headers: Fields) -> None:
        if (c := self.conns.get(conn)) is not None:
            self._packets(conn, c[0].response(msg, status, reason, version, headers), t)

    def websocket(self, conn: int, t: float, from_client: bool, text: bool, data: bytes) -> None:
        if (c := self.conns.get(conn)) is not None:
            self._packets(conn, c[0].websocket(from_client, text, data), t)

    def tcp(self, conn: int, t: float, from_client: bool, data: bytes) -> None:
        if (c := self.conns.get(conn)) is not None:
            self._packets(conn, c[0].tcp(from_client, data), t)

    def datagram(self, client, server, t: float, from_client: bool, data: bytes) -> None:
        """One UDP datagram (a DNS message included) mitmproxy relayed inside a tunnel whose raw
        recording shows only the tunnel (WireGuard): its only record, so the flow's volume."""
        (fa, a, pa), (fb, b, pb) = _endpoint(client), _endpoint(server)
        if fa != fb:
            raise ValueError(f"address families differ: {client} > {server}")
        header = (HEADER.pack(MAGIC, VERSION, KIND_UDP, fa, FROM_CLIENT | ONLY_RECORD, pa, pb, a, b) if from_client
                  else HEADER.pack(MAGIC, VERSION, KIND_UDP, fa, ONLY_RECORD, pb, pa, b, a))
        ticks = round(t * 1_000_000)
        self._write(_block(header, data, ticks >> 32, ticks & 0xFFFFFFFF))
        self.packets += 1

    def _packets(self, conn: int, chunks: Chunks, t: float) -> None:
        _, out, back = self.conns[conn]
        ticks = round(t * 1_000_000)
        hi, lo = ticks >> 32, ticks & 0xFFFFFFFF
        parts: list = []
        for direction, data in chunks:
            header = out if direction == OUT else back
            view = memoryview(data)
            for i in range(0, max(len(view), 1), PACKET_BYTES):
                parts += _block(header, view[i: i + PACKET_BYTES], hi, lo)
                self.packets += 1
        if parts:
            self._write(parts)

    def close_file(self) -> None:
        os.close(self.fd)
