"""LINKTYPE_USER15 (162): what an intercepting proxy saw inside a connection (the network tap's feed).

The network tap terminates the instrument's TLS in mitmproxy; the raw recording then holds only
ciphertext until its key log is injected at the end.  So the tap also records the plaintext it saw,
as this link type, one packet per piece: which TCP connection (the 4-tuple the raw recording shows on
the instrument's side), which way, and the bytes.  Plaintext becomes a ``Segment`` with
``transport="tls"``, exactly what TLS decryption of the raw recording gives a replay, so the same
parsers see the same bytes live and in replay.

Header (network byte order), then the bytes:
  magic "SBXP", version u8, kind u8 (KIND_TLS: TLS plaintext of the connection; KIND_UDP: one UDP
  datagram, DNS messages included, relayed inside a tunnel), family u8 (4 or 6),
  flags u8 (FROM_CLIENT: sent by the side that opened the connection; ONLY_RECORD: no other recording
  holds this connection, as in WireGuard mode, so its bytes are the flow's volume), sport u16, dport u16,
  src 16 bytes, dst 16 bytes (IPv4 in the first 4).
The proxy knows who opened the connection, so the Segment says so (``meta["client"]``): plaintext
may reach the session before the raw recording's SYN does, and must not guess the direction.
"""

from __future__ import annotations

import ipaddress
import struct

from sandbox.model import Segment

LINKTYPE = 162  # LINKTYPE_USER15: reserved for private use (the last one: USER0 is the one people try first)
HEADER = struct.Struct("!4sBBBBHH16s16s")
MAGIC = b"SBXP"
VERSION = 1
KIND_TLS = 1
KIND_UDP = 2
TRANSPORTS = {KIND_TLS: "tls", KIND_UDP: "udp"}
FROM_CLIENT = 0x01
ONLY_RECORD = 0x02


def frame(src: str, sport: int, dst: str, dport: int, data: bytes, from_client: bool,
          kind: int = KIND_TLS, only: bool = False) -> bytes:
    """One packet of this link type: ``data`` sent from (src, sport) to (dst, dport)."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version != b.version:
        raise ValueError(f"address families differ: {src} > {dst}")
    flags = (FROM_CLIENT if from_client else 0) | (ONLY_RECORD if only else 0)
    return HEADER.pack(MAGIC, VERSION, kind, a.version, flags, sport, dport, a.packed.ljust(16, b"\0"),
                       b.packed.ljust(16, b"\0")) + data


def segments(data: bytes, t: float, frame: int) -> list[Segment]:
    magic, version, kind, family, flags, sport, dport, src, dst = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or kind not in TRANSPORTS or family not in (4, 6):
        raise ValueError("not a proxied-plaintext packet")
    size = 4 if family == 4 else 16
    meta = {"client": "src" if flags & FROM_CLIENT else "dst"}
    if flags & ONLY_RECORD:
        meta["only"] = True
    return [Segment(t, "net", TRANSPORTS[kind], str(ipaddress.ip_address(src[:size])), sport,
                    str(ipaddress.ip_address(dst[:size])), dport, data[HEADER.size:], frame=frame, meta=meta)]
