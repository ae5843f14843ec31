"""DTLS (TLS over UDP: WebRTC data channels, VPN data paths, CoAP): the hello's names, then volume.

The ClientHello travels in clear (RFC 6347 4.2, RFC 9147 5): its server name and ALPN are read as
TLS's are.  Records of a later epoch, application data and DTLS 1.3's unified-header records are
ciphertext no key log here opens: counted as encrypted volume (``opaque.OpaqueParser``) and, like
every byte of the flow, still scanned raw.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from sandbox.protocols.context import FlowContext
from sandbox.protocols.opaque import Items, OpaqueParser
from sandbox.protocols.tls import (
    CONTENT_APPDATA,
    CONTENT_CCS,
    CONTENT_HANDSHAKE,
    HS_CLIENT_HELLO,
    TlsError,
    parse_client_hello,
)

HEADER = 13                                   # type, version, epoch, sequence number (6), length
HS_HEADER = 12                                # type, length (3), message_seq, fragment offset (3) and length (3)
VERSIONS = {0xFEFF: "DTLS 1.0", 0xFEFD: "DTLS 1.2", 0xFEFC: "DTLS 1.3"}
CONTENT_ACK = 26                              # DTLS 1.3 (RFC 9147 7)
_RECORD = struct.Struct("!BHH6sH")


def looks_like_dtls(data: bytes) -> bool:
    """A plaintext record of epoch 0 holding the start of a hello (client, server, or a verify request)."""
    if len(data) < HEADER + HS_HEADER:
        return False
    ctype, version, epoch, _, length = _RECORD.unpack_from(data)
    return (ctype == CONTENT_HANDSHAKE and version in VERSIONS and epoch == 0 and HS_HEADER <= length
            and HEADER + length <= len(data) and data[HEADER] in (1, 2, 3))


def _tls_hello(body: bytes) -> bytes:
    """A DTLS ClientHello body as TLS spells it: without the cookie after the session ID."""
    if len(body) < 35:
        raise TlsError("ClientHello too short")
    sid_end = 35 + body[34]
    if sid_end >= len(body):
        raise TlsError("ClientHello too short")
    return body[:sid_end] + body[sid_end + 1 + body[sid_end]:]


class DtlsParser(OpaqueParser):
    """DTLS over UDP, both directions: the client's names, and ciphertext counted."""

    name: ClassVar[str] = "dtls"
    ports: ClassVar[tuple[int, ...]] = (5684,)    # CoAP over DTLS: a hint only

    @staticmethod
    def detect(data: bytes, sport: int, dport: int) -> bool:
        return looks_like_dtls(data)

    def __init__(self, ctx: FlowContext) -> None:
        super().__init__(ctx)
        self.hello_read = False

    def inspect(self, direction: str, data: bytes, t: float) -> Items:
        out: Items = []
        pos = 0
        while len(data) - pos >= 1:
            if data[pos] & 0xE0 == 0x20:      # DTLS 1.3 unified header: ciphertext to the datagram's end
                self.detail["dtls_version"] = VERSIONS[0xFEFC]
                self.sealed(direction, len(data) - pos)
                break
            if len(data) - pos < HEADER:
                break
            ctype, version, epoch, _, length = _RECORD.unpack_from(data, pos)
            end = pos + HEADER + length
            if version not in VERSIONS or end > len(data) or not CONTENT_CCS <= ctype <= CONTENT_ACK:
                break                         # not a record: the raw scan has it
            if self.detail.get("dtls_version") != VERSIONS[0xFEFC]:     # the latest record's: the one agreed
                self.detail["dtls_version"] = VERSIONS[version]
            if epoch or ctype == CONTENT_APPDATA:
                self.sealed(direction, end - pos)
            elif ctype == CONTENT_HANDSHAKE and direction == self.ctx.client:
                self._hello(data[pos + HEADER: end], out)
            pos = end
        return out

    def _hello(self, fragment: bytes, out: Items) -> None:
        if self.hello_read or len(fragment) < HS_HEADER or fragment[0] != HS_CLIENT_HELLO:
            return
        size = int.from_bytes(fragment[1:4], "big")
        offset, frag_len = int.from_bytes(fragment[6:9], "big"), int.from_bytes(fragment[9:12], "big")
        if offset or frag_len != size or len(fragment) < HS_HEADER + size:
            return                            # a hello in pieces: its names are not read (still scanned)
        self.hello_read = True
        ctx = self.ctx
        try:
            info = parse_client_hello(_tls_hello(fragment[HS_HEADER: HS_HEADER + size]))
        except (TlsError, ValueError, struct.error) as exc:
            ctx.error(f"dtls: {exc}")
            return
        if "sni" in info:
            ctx.destination = info["sni"]
            ctx.named(info["sni"])
            self.detail["sni"] = ctx.info.meta["sni"] = info["sni"]
            out.append(ctx.payload(info["sni"].encode(), ("dtls sni",), ctx.client, self.t_last,
                                   meta={"sni": info["sni"]}))
        if "alpn_offered" in info:
            self.detail["alpn"] = ctx.info.meta["alpn"] = info["alpn_offered"]
