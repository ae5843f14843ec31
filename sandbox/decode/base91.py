"""basE91 (Joachim Henke's: 91 printable symbols, 13 or 14 bits a pair): a whole view (label "base91").

basE91 writes bytes in 91 of ASCII's printable characters (all but space, ``-``, ``\\`` and ``'``), a pair
of them a 13- or 14-bit value: a gzip of reads so written replayed clean (no alphabet decoder knew it;
base85's alphabets miss some of its symbols).  A view made only of its symbols (line breaks aside),
MIN_CHARS or more, with more distinct symbols in its first KiB than any base85 alphabet has (MIN_DISTINCT),
is read whole, in numpy: each pair's value, its width (13 bits where its low 13 exceed 88, else 14),
its bits laid one after another lowest first; a last lone symbol (the last byte, or a pair the view
cut: no telling) makes none.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder

ALPHABET = b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,./:;<=>?@[]^_`{|}~"'
MIN_CHARS = 256
SAMPLE = 4096
DISTINCT_SAMPLE = 1024
MIN_DISTINCT = 86         # symbols in the first KiB: base91 of any bytes shows ~89; base85 at most 85
LINE_BREAKS = b"\r\n"
CHUNK = 1 << 18             # pairs laid out at once
_VALUE = np.full(256, -1, dtype=np.int32)
_VALUE[np.frombuffer(ALPHABET, np.uint8)] = np.arange(len(ALPHABET))


def is_base91(sample: bytes) -> bool:
    """Whether a sample (line breaks taken out) is written in basE91's symbols alone, and in most of them."""
    return not sample.translate(None, ALPHABET) and len(set(sample[:DISTINCT_SAMPLE])) >= MIN_DISTINCT


def decode_base91(block: bytes) -> bytes:
    """``block``'s bytes (its symbols alone: see ``is_base91``), CHUNK pairs at a time (the bits of a
    pair take 16 bytes of numpy's while they are laid out)."""
    values = _VALUE[np.frombuffer(block, np.uint8)]
    pairs = len(values) // 2
    out, left = [], np.zeros(0, np.uint8)       # bits past the last whole byte, for the next chunk
    for at in range(0, pairs, CHUNK):
        v = values[2 * at:2 * min(pairs, at + CHUNK):2] + 91 * values[2 * at + 1:2 * min(pairs, at + CHUNK):2]
        width = np.where((v & 8191) > 88, 13, 14)
        v &= (1 << width) - 1         # (a 13-bit pair's 14th bit: none in what an encoder writes)
        bits = np.unpackbits(v.astype("<u2").view(np.uint8).reshape(-1, 2), axis=1, bitorder="little")
        stream = np.concatenate((left, bits[np.arange(16) < width[:, None]]))
        whole = len(stream) // 8 * 8
        out.append(np.packbits(stream[:whole], bitorder="little").tobytes())
        left = stream[whole:]
    return b"".join(out)


class Base91Decoder(Decoder):
    name = "base91"
    text = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        head = data[:SAMPLE]
        if len(data) < MIN_CHARS or data[:64].translate(None, ALPHABET + LINE_BREAKS) or b" " in head or not text.printable(head):
            return False
        return is_base91(head.translate(None, LINE_BREAKS))

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        block = data.translate(None, LINE_BREAKS)
        if not is_base91(block):
            return
        room = budget.remaining * 8 // 7 // 2 * 2       # pairs that make the budget's bytes at most
        if len(block) > room:
            budget.exhausted(left=len(block) - room)
            block = block[:room]
        yield "base91", decode_base91(block)
