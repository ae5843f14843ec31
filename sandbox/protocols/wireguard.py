"""WireGuard (a VPN from the instrument to a vendor, or anyone's): named, its tunnelled volume counted.

A tunnel hides every protocol inside it; all the rig can weigh is how much went in (opaque volume) and
where to.  Messages (the WireGuard paper, 5.4): a type byte and three reserved zero bytes, then a
handshake initiation of 148 bytes, a response of 92, a cookie reply of 64, or transport data (16
bytes of header, then ChaCha20-Poly1305 ciphertext with its 16-byte tag).  Transport data is
counted as encrypted volume (``opaque.OpaqueParser``) and, like every byte of the flow, still scanned raw.
"""

from __future__ import annotations

from typing import ClassVar

from sandbox.protocols.context import FlowContext
from sandbox.protocols.opaque import Items, OpaqueParser, looks_encrypted
from sandbox.protocols.tls import PROBE_BYTES

INITIATION, RESPONSE, COOKIE, DATA = 1, 2, 3, 4
SIZES = {INITIATION: 148, RESPONSE: 92, COOKIE: 64}
DATA_HEADER = 16          # type, reserved, receiver index, counter
PORT = 51820              # wg-quick's default, and the rig's own WireGuard mode's


def message_type(data: bytes) -> int:
    """The WireGuard message this datagram is (1-4), or 0."""
    if len(data) < 32 or data[1:4] != b"\x00\x00\x00":
        return 0
    kind = data[0]
    if kind in SIZES:
        return kind if len(data) == SIZES[kind] else 0
    return DATA if kind == DATA else 0      # padded to 16 bytes, but never past the tunnel's MTU


class WireGuardParser(OpaqueParser):
    """WireGuard over UDP: handshakes counted, transport data counted as ciphertext."""

    name: ClassVar[str] = "wireguard"
    ports: ClassVar[tuple[int, ...]] = (PORT,)

    @staticmethod
    def detect(data: bytes, sport: int, dport: int) -> bool:
        kind = message_type(data)
        return kind in (INITIATION, RESPONSE) or (kind == DATA and PORT in (sport, dport))

    def __init__(self, ctx: FlowContext) -> None:
        super().__init__(ctx)
        self.detail["handshakes"] = 0

    def inspect(self, direction: str, data: bytes, t: float) -> Items:
        kind = message_type(data)
        if kind == INITIATION:
            self.detail["handshakes"] += 1
        elif kind == DATA and (looks_encrypted(data, DATA_HEADER)
                               or (len(data) - DATA_HEADER < PROBE_BYTES and self.ctx.info.sealed)):
            self.sealed(direction, len(data))
        return []
