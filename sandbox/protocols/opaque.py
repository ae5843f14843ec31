"""Encrypted protocols the rig cannot decrypt (QUIC, SSH, ...): named, counted, and still scanned.

Before these parsers such a flow was plain ``raw``: its ciphertext was scanned and found nothing, so a
large upload over QUIC or SFTP to an unlisted place left no trace in the verdict.  Now the flow is
marked encrypted once its bytes look like ciphertext (the correlator's opaque-volume rule weighs it,
as it weighs TLS without keys) and closes with an ``Observation(kind="encrypted")``.  Every byte still
goes through the raw parser: an instrument that frames plaintext as one of these protocols is matched
as before, so recognising a protocol never hides anything.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sandbox.model import Observation, Payload
from sandbox.protocols.context import FlowContext
from sandbox.protocols.raw import RawParser
from sandbox.protocols.tls import MIN_CIPHER_DISTINCT, PROBE_BYTES

Items = list[Payload | Observation]


def looks_encrypted(data: bytes, skip: int) -> bool:
    """Whether ``PROBE_BYTES`` of ``data`` after ``skip`` header bytes look like ciphertext: as many
    distinct byte values as random bytes have (text, reads and base64 have far fewer)."""
    window = data[skip: skip + PROBE_BYTES]
    return len(window) == PROBE_BYTES and len(set(window)) >= MIN_CIPHER_DISTINCT


class OpaqueParser:
    """The shared part: times, ciphertext counted per direction, the raw scan, the closing Observation.

    A subclass reads what travels in clear (``inspect``: names, versions) and calls ``sealed`` for the
    bytes that look encrypted.  ``detail`` goes into the closing Observation.
    """

    name: ClassVar[str] = "opaque"

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        ctx.info.app = ctx.info.app or self.name
        self.raw = RawParser(ctx)
        self.t_first: float | None = None
        self.t_last = 0.0
        self.sealed_bytes = {"out": 0, "in": 0}
        self.detail: dict[str, Any] = {}

    def inspect(self, direction: str, data: bytes, t: float) -> Items:
        """What this protocol shows in clear; calls ``sealed`` for ciphertext.  Overridden."""
        return []

    def sealed(self, direction: str, size: int) -> None:
        """``size`` bytes of ``direction`` are ciphertext: the flow is encrypted and not decrypted."""
        self.sealed_bytes[direction] += size
        info = self.ctx.info
        info.encrypted = True
        info.sealed = self.name
        if direction == "out":
            info.sealed_out += size

    def feed(self, direction: str, data: bytes, t: float) -> Items:
        if self.t_first is None:
            self.t_first = t
        self.t_last = max(self.t_last, t)
        return self.inspect(direction, data, t) + self.raw.feed(direction, data, t)

    def gap(self, direction: str, size: int) -> Items:
        return self.raw.gap(direction, size)

    def idle(self, t: float) -> Items:
        return self.raw.idle(t)

    def close(self, t: float) -> Items:
        out = self.raw.close(t)
        if self.ctx.info.sealed:
            detail = {**self.detail, "bytes_in": self.sealed_bytes["in"], "decrypted": False}
            out.append(self.ctx.observation("encrypted", "info", self.t_first if self.t_first is not None else t,
                                            max(self.t_last, t), bytes_out=self.sealed_bytes["out"],
                                            label=(self.name,), detail=detail))
        return out
