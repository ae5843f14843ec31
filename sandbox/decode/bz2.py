"""bzip2 streams, including concatenated streams (pbzip2, lbzip2 output)."""

from __future__ import annotations

import bz2
import re
from collections.abc import Iterator

from sandbox.decode.base import Budget, Decoder, mark
from sandbox.decode.stream import keep, unpack

# "BZh" + block size 1-9, then a block magic (pi) or the end-of-stream magic (sqrt pi).
_STREAM = re.compile(rb"BZh[1-9](?:1AY&SY|\x17\x72\x45\x38\x50\x90)")


def _stream(head: bytes) -> bool:
    return _STREAM.match(head) is not None


class Bz2Decoder(Decoder):
    name = "bz2"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return _STREAM.match(data[:10]) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        got = unpack(bz2.BZ2Decompressor, (OSError, EOFError, ValueError), data, budget.remaining, _stream)
        if got.status == "limit":
            budget.exhausted()
        if keep(got):
            yield mark("bz2", got.status), got.data
