"""base58 (Bitcoin's alphabet: no 0, O, I or l), token by token: a whole view only (label "base58").

IPFS, Solana, Bitcoin and many ID schemes write bytes in base58; a gzip of reads written so, 32 bytes
a token a line, replayed clean: base58 is no bit-slicing encoding (each token is one big number), so
neither the base64 nor the hex decoder read it, and text is no ciphertext to weigh.  A view made only
of tokens of base58's alphabet (between white space and commas), MIN_TOKEN characters or more, with
capitals, small letters and digits in it, is read token by token: each as a big-endian number, its
leading ``1`` characters zero bytes (the last token of a view that ends inside one is left: a number
cut short is another number).  Tokens longer than MAX_TOKEN (converting a number is quadratic
in its length) are said not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder

ALPHABET = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
MIN_TOKEN = 20            # characters: 15 bytes or so; shorter tokens are words as often
MAX_TOKEN = 2048          # characters of one token (about 1.5 kB): longer ones are said not read
MIN_CHARS = 32            # characters of the view
_SEPARATORS = re.compile(rb"[\s,;]+")
_VALUE = {c: n for n, c in enumerate(ALPHABET)}
_NOT_BASE58 = bytes(b for b in range(256) if b not in ALPHABET and b not in b" \t\r\n,;")


def _tokens(data: bytes) -> list[bytes] | None:
    """The view's tokens, when it is base58 text (None when it is not)."""
    if len(data) < MIN_CHARS or data.translate(None, _NOT_BASE58) != data:
        return None
    tokens = [t for t in _SEPARATORS.split(data.strip()) if t]
    if not tokens or min(len(t) for t in tokens[:-1] or tokens) < MIN_TOKEN:
        return None
    joined = b"".join(tokens[:64])
    if joined.isdigit() or joined.isalpha() or joined.lower() == joined or joined.upper() == joined:
        return None         # digits, words, one case: no base58 of bytes
    return tokens


def _number(token: bytes) -> bytes:
    """One token's bytes: the big-endian number it writes, after a zero byte for each leading ``1``."""
    value = 0
    for c in token:
        value = value * 58 + _VALUE[c]
    zeros = len(token) - len(token.lstrip(b"1"))
    return bytes(zeros) + value.to_bytes((value.bit_length() + 7) // 8, "big")


class Base58Decoder(Decoder):
    name = "base58"
    text = True
    unstructured = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data.isascii() and _tokens(data[:4096].rpartition(b"\n")[0] or data[:4096]) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        tokens = _tokens(data)
        if tokens is None:
            return
        if len(tokens) > 1 and data[-1:] not in b" \t\r\n,;":
            tokens.pop()        # the view may end inside it: a cut number is another number
        out = bytearray()
        for token in tokens:
            if len(out) >= budget.remaining:
                break
            if len(token) > MAX_TOKEN:
                budget.not_read(f"base58 token of more than {MAX_TOKEN} characters", len(token))
                continue
            out += _number(token)
        yield "base58", bytes(out[:budget.remaining])
