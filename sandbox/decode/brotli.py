"""Brotli (RFC 7932): HTTP "br" bodies and gRPC/SDK payloads.

Brotli has no magic number, so the check is a trial decode.  About 1 in 12 random buffers
"decodes" as an uncompressed meta-block, i.e. as a verbatim copy of itself: output found
verbatim in the input is no decoding.
"""

from __future__ import annotations

from collections.abc import Iterator

import brotli as _brotli

from sandbox.decode import text
from sandbox.decode.base import Budget, Decoder, drain
from sandbox.decode.codec import status_label

TRIAL_INPUT = 1024  # enough to get past the stream header and the first meta-block header
MIN_OUTPUT = 32  # shorter clean decodes are chance hits
TEXT_PROBE = 64  # compressed bytes are not text: 64 printable bytes in a row never start a stream
PROBE = 64  # output bytes looked up near the input's start, after <= 16 header bytes (see docstring)


class BrotliDecoder(Decoder):
    name = "brotli"
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        if len(data) < 4 or text.printable(data[:TEXT_PROBE]):
            return False
        dec = _brotli.Decompressor()
        try:
            out = dec.process(data[:TRIAL_INPUT], output_buffer_limit=1 << 16)
        except _brotli.error:
            return False
        return len(out) >= MIN_OUTPUT and out[:PROBE] not in data[: PROBE + 16]

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        got = drain("brotli", data, budget)
        verbatim = got.data[:PROBE] in data[: PROBE + 16]
        if got.status != "limit" and (got.status == "corrupt" or len(got.data) < MIN_OUTPUT or verbatim):
            return
        if got.data:
            yield status_label("brotli", got.status), got.data
