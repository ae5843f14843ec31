"""Base45 (RFC 9285: QR codes' alphanumeric mode, the EU's health certificates): a whole view (label "base45").

Base45 writes two bytes as three of 45 symbols (digits, capitals, space and ``$%*+-./:``), the first
the lowest: a gzip of reads so written replayed clean (no decoder knew the alphabet).  A view made only
of those symbols (line breaks aside), MIN_CHARS or more, holding MIN_DISTINCT of them in its first KiB,
whose first 4 KiB are groups of three base45 writes past a prefix of MAX_PREFIX symbols at most (capitals'
prose and logs have spaces and colons where a group's last symbol is), is read whole from there, in
numpy; a group whose value passes 65,535 (no base45) stops the view's reading there.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
MIN_CHARS = 256
SAMPLE = 4096
DISTINCT_SAMPLE = 1024
MAX_PREFIX = 8            # symbols of a prefix of the sender's own before the groups
MIN_DISTINCT = 24         # symbols in the first KiB: base45 of compressed bytes shows all 45, of reads 30
LINE_BREAKS = b"\r\n"
_VALUE = np.full(256, -1, dtype=np.int64)
_VALUE[np.frombuffer(ALPHABET, np.uint8)] = np.arange(len(ALPHABET))


def alignment(sample: bytes) -> int | None:
    """Where a sample's (line breaks taken out) groups of three start (a prefix of MAX_PREFIX symbols at
    most before them: ``HC1:``), when it is written in base45's
    symbols alone, MIN_DISTINCT of them at least, every group a value base45 writes (at most 65,535: a
    group's last symbol is never one of the alphabet's last twelve, space and punctuation among them);
    None when it is no base45."""
    if sample.translate(None, ALPHABET) or len(set(sample[:DISTINCT_SAMPLE])) < MIN_DISTINCT:
        return None
    values = _VALUE[np.frombuffer(sample, np.uint8)]
    for start in range(MAX_PREFIX + 1):
        groups = values[start:start + (len(values) - start) // 3 * 3].reshape(-1, 3)
        if len(groups) and (groups[:, 0] + 45 * groups[:, 1] + 2025 * groups[:, 2]).max() <= 0xFFFF:
            return start
    return None


def decode_base45(block: bytes) -> bytes:
    """``block``'s bytes (its symbols alone: see ``is_base45``): two a group of three; a last group of
    two (a last odd byte, or a group the view cut: no telling) makes none."""
    values = _VALUE[np.frombuffer(block, np.uint8)]
    whole = len(values) // 3 * 3
    groups = values[:whole].reshape(-1, 3)
    n = groups[:, 0] + 45 * groups[:, 1] + 2025 * groups[:, 2]
    bad = np.flatnonzero(n > 0xFFFF)
    if len(bad):
        n = n[:bad[0]]
    return n.astype(">u2").tobytes()


class Base45Decoder(Decoder):
    name = "base45"
    text = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        if len(data) < MIN_CHARS or data[:64].translate(None, ALPHABET + LINE_BREAKS):
            return False        # (a first look: most text has small letters within 64 bytes)
        head = data[:SAMPLE]
        return text.printable(head) and alignment(head.translate(None, LINE_BREAKS)) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        block = data.translate(None, LINE_BREAKS)
        start = alignment(block[:SAMPLE])
        if start is None or block.translate(None, ALPHABET):
            return
        room = budget.remaining * 3 // 2 // 3 * 3        # symbols that make the budget's bytes at most
        if len(block) - start > room:
            budget.exhausted(left=len(block) - start - room)
        yield "base45", decode_base45(block[start:start + room])
