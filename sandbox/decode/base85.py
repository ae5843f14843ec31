"""base85: Ascii85 (PostScript, PDF, btoa), RFC 1924's alphabet (git binary patches, Python's
``b85encode``) and ZeroMQ's Z85; a whole view, or Adobe's ``<~ ... ~>`` runs inside text.

Base85 text has up to 85 symbols, more than base64's 65 and fewer than ciphertext's byte values:
reads in it matched nothing and did not look like ciphertext either, so they replayed clean.  A
view is taken whole when, line breaks aside, it holds nothing but one alphabet's symbols and at
least ``MIN_DISTINCT`` of them in its first KiB (prose has spaces, JSON quotes and commas beside
braces, base64 and hex too few symbols), so such a view is taken from 256 symbols (about one read);
a run between Adobe's delimiters from 20.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from sandbox.decode import magic, text
from sandbox.decode.base import Budget, Decoder

# Ascii85: "!" to "u", and "z" for four zero bytes; RFC 1924 (b85) and Z85 as published.
A85 = bytes(range(33, 118)) + b"z"
B85 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
Z85 = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
Z85_AS_B85 = bytes.maketrans(Z85, B85)
MIN_CHARS = 256
SAMPLE = 4096
# Distinct symbols in the first KiB: 256 symbols of base85 over bytes of any kind show 70 or more
# (uniform: 80, a KiB 85); base64 has at most 65, hex 22.
MIN_DISTINCT = 70
DISTINCT_SAMPLE = 1024
LINE_BREAKS = b"\r\n"
# Adobe's delimiters say what they hold: a run between them is taken from 20 symbols (16 bytes).
MIN_DELIMITED = 20
ADOBE_OPEN = b"<~"
ADOBE = re.compile(rb"<~([!-uz\r\n]{%d,})~>" % MIN_DELIMITED)


def _alphabet(sample: bytes) -> bytes | None:
    """The alphabet a compact sample is written in, or None when it is no base85."""
    for alphabet in (A85, B85, Z85):
        if not sample.translate(None, alphabet):
            return alphabet if len(set(sample[:DISTINCT_SAMPLE])) >= MIN_DISTINCT else None
    return None


def _decode(block: bytes, alphabet: bytes) -> bytes | None:
    try:
        if alphabet is A85:
            return base64.a85decode(block)
        if alphabet is Z85:
            if len(block) % 5:
                return None
            block = block.translate(Z85_AS_B85)
        return base64.b85decode(block)
    except (ValueError, binascii.Error):
        return None


def cut_to_budget(block: bytes, budget: Budget) -> bytes:
    """``block`` cut to what decodes within the budget (four bytes per 5 symbols, per "z" in a85)."""
    room = budget.remaining // 4 if b"z" in block else budget.remaining * 5 // 4
    if len(block) <= room:
        return block
    budget.exhausted(left=len(block) - room)
    return block[: room - room % 5]


class Base85Decoder(Decoder):
    name = "base85"
    text = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        if not text.looks_textual(data):
            return False
        opened = magic.locate(data, ADOBE_OPEN)
        if opened >= 0 and ADOBE.search(data, opened):
            return True
        head = data[:SAMPLE]
        if len(data) < MIN_CHARS or b" " in head:  # prose, logs, headers: spaces no alphabet has
            return False
        head = head.translate(None, LINE_BREAKS)
        return text.printable(head) and _alphabet(head) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        delimited = False
        opened = magic.locate(data, ADOBE_OPEN)
        for match in ADOBE.finditer(data, max(0, opened)) if opened >= 0 else ():
            delimited = True
            out = _decode(cut_to_budget(match.group(1).translate(None, LINE_BREAKS), budget), A85)
            if out:
                yield "base85", out
        if delimited:
            return
        block = data.translate(None, LINE_BREAKS)
        alphabet = _alphabet(block[:SAMPLE])
        if alphabet is None or block.translate(None, alphabet):
            return
        out = _decode(cut_to_budget(block, budget), alphabet)
        if out:
            yield "base85", out
