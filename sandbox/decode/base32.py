"""base32 (RFC 4648), upper or lower case, padded or not: a whole view only.

Used by TOTP secrets, some SDK blob encodings and DNS tunnels (labels are handled by the DNS
parser; a reassembled tunnel payload comes here).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder

MIN_CHARS = 26  # 26 base32 chars = 16 bytes, the evidence floor
_UPPER = re.compile(rb"[A-Z2-7]+=*")
_LOWER = re.compile(rb"[a-z2-7]+=*")
_WHITESPACE = b"\r\n\t "
_DIGITS = re.compile(rb"[2-7]")


def _block(data: bytes) -> bytes | None:
    block = data.strip().translate(None, _WHITESPACE)
    if len(block) < MIN_CHARS:
        return None
    m = _UPPER.fullmatch(block) or _LOWER.fullmatch(block)
    # text in capitals ("HELLOWORLD") has no digits; base32 of >= 16 bytes almost always has some
    if m is None or not _DIGITS.search(block):
        return None
    return block


class Base32Decoder(Decoder):
    name = "base32"
    text = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.isascii() and _block(data[:4096]) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        block = _block(data)
        if block is None:
            return
        body = block.rstrip(b"=").upper()
        if len(body) % 8 in (1, 3, 6):  # impossible lengths (RFC 4648 6): one stray char
            body = body[:-1]
        body += b"=" * (-len(body) % 8)
        try:
            yield "base32", base64.b32decode(body)
        except (binascii.Error, ValueError):
            return
