"""Raw deflate (RFC 1951) with no header: HTTP "deflate" from some servers, custom framings.

There is no magic number, so the check is a trial inflate: random bytes fail within a few
hundred bytes, while a real stream either ends cleanly or keeps producing output.  A stream
that starts with a "stored" block is not taken: that is how random bytes get through (the
block copies them verbatim), and stored content is visible in the input view anyway.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import ZLIB_ERRORS, status_label

RAW_WBITS = -15
# Trial inflate of this much input decides the sniff; cheap for any payload size.
TRIAL_INPUT = 4096
# Leftover after the end of the stream: a real deflate body ends within a few bytes of the payload.
MAX_TRAILING = 8
# Shorter clean decodes are chance hits (a 2-byte fixed-Huffman block is easy to hit).
MIN_OUTPUT = 32
# A stream cut by the end of the payload counts only from this much input: text and random bytes
# can read as a few dozen fixed-Huffman symbols before anything is invalid.
MIN_TRUNCATED_INPUT = 1024
# Compressed bytes are not text: 64 printable bytes in a row never start a real stream.
TEXT_PROBE = 64


class DeflateDecoder(Decoder):
    name = "deflate"
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        if len(data) < 4 or data[0] & 0x06 in (0x00, 0x06):  # stored first block; BTYPE 11 is reserved
            return False
        if text.printable(data[:TEXT_PROBE]):
            return False
        dec = zlib.decompressobj(RAW_WBITS)
        try:
            out = dec.decompress(data[:TRIAL_INPUT], 1 << 16)
        except ZLIB_ERRORS:
            return False
        if dec.eof:
            trailing = len(data) - min(len(data), TRIAL_INPUT) + len(dec.unused_data)
            return len(out) >= MIN_OUTPUT and trailing <= MAX_TRAILING
        return len(out) >= MIN_OUTPUT and len(data) >= MIN_TRUNCATED_INPUT

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        got = drain("deflate", data, budget)
        chance = got.status == "corrupt" or len(got.data) < MIN_OUTPUT or (
            got.status == "truncated" and len(data) < MIN_TRUNCATED_INPUT)
        if got.data and (got.status == "limit" or not chance):
            yield status_label("deflate", got.status), got.data
