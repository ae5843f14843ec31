"""base32 (RFC 4648) and its other alphabets, upper or lower case, padded or not: a whole view only.

Used by TOTP secrets, some SDK blob encodings and DNS tunnels (labels are handled by the DNS
parser; a reassembled tunnel payload comes here).  A gzip of reads written in RFC 4648's extended
hex alphabet (``base32hex``, 0-9 A-V), Crockford's (0-9 and the letters but I, L, O, U: ULIDs) or
z-base-32 (``ybndrfg8...``: Tahoe-LAFS, Mnet) replayed clean: nothing read the text, and text is no
ciphertext to weigh.  Each alphabet the view is written in is read now.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder

MIN_CHARS = 26  # 26 base32 chars = 16 bytes, the evidence floor
_WHITESPACE = b"\r\n\t "
# Distinct characters a block in another alphabet than RFC 4648's must hold: 26 characters of base32
# hold ~18 (identifiers of digits and a repeated letter, words of a few letters, hold fewer)
MIN_DISTINCT = 12
RFC4648 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# label, alphabet (value order), case-blind, the characters one of which any block of it must hold
# (text in capitals has no digits; base32hex or Crockford's of >= 16 bytes have letters past F,
# which hex of the same bytes has not)
ALPHABETS: tuple[tuple[str, bytes, bool, bytes], ...] = (
    ("base32", RFC4648, True, b"234567"),
    ("base32hex", b"0123456789ABCDEFGHIJKLMNOPQRSTUV", True, b"GHIJKLMNOPQRSTUV"),
    ("base32 crockford", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", True, b"GHJKMNPQRSTVWXYZ"),
    ("z-base-32", b"ybndrfg8ejkmcpqxot1uwisza345h769", False, b"13456789"),
)


def _block(data: bytes) -> bytes | None:
    """The view without whitespace and padding, long enough to be base32 and in one case."""
    block = data.strip().translate(None, _WHITESPACE).rstrip(b"=")
    if len(block) < MIN_CHARS or not (block.isupper() or block.islower() or block.isdigit()):
        return None
    return block


def _alphabets(block: bytes) -> Iterator[tuple[str, bytes]]:
    """The alphabets ``block`` is written in: (label, the block in RFC 4648's alphabet)."""
    upper = block.upper()
    for label, alphabet, blind, needs in ALPHABETS:
        text = upper if blind else block
        if text.translate(None, alphabet) or text.translate(None, needs) == text or \
                (alphabet is not RFC4648 and len(set(block[:4096])) < MIN_DISTINCT):
            continue
        yield label, text.translate(bytes.maketrans(alphabet, RFC4648))


class Base32Decoder(Decoder):
    name = "base32"
    text = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        if not data.isascii():
            return False
        head = _block(data[:4096])
        return head is not None and next(_alphabets(head), None) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        block = _block(data)
        if block is None:
            return
        for label, body in _alphabets(block):
            if len(body) % 8 in (1, 3, 6):  # impossible lengths (RFC 4648 6): one stray char
                body = body[:-1]
            body += b"=" * (-len(body) % 8)
            try:
                yield label, base64.b32decode(body)
            except (binascii.Error, ValueError):
                continue
