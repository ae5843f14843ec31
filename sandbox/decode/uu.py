"""uuencode (``uuencode``, old mail and Usenet tools, an instrument PC's cron mail): every encoded
file in a text view, label "uu:<name>".

uuencoded text is 64 symbols from space to backquote, line by line: reads in it matched nothing and
did not look like ciphertext, so they replayed clean.  A file starts at a ``begin <mode> <name>``
line; each line after it gives its length in its first symbol, until ``end`` or a line that is no
uuencoding (a file cut short keeps what came).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

from sandbox.decode import magic, text
from sandbox.decode.base import Budget, Decoder
from sandbox.decode.codec import status_label

BEGIN_WORD = b"begin "
BEGIN = re.compile(rb"^begin [0-7]{3,4} ([^\r\n]{1,255})\r?$", re.MULTILINE)
# A line of uuencoding: its length symbol, then groups of four symbols from space to backquote.
LINE = re.compile(rb"[ -`]{1,62}")


def _file(data: bytes, pos: int, budget: Budget) -> tuple[bytes, str, int]:
    """The file whose lines start at ``pos``: (bytes, status, where its lines end)."""
    out = bytearray()
    status = "truncated"
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl
        line = data[pos:end].rstrip(b"\r")
        if line == b"end":
            status, pos = "ok", end + 1
            break
        if not LINE.fullmatch(line):
            break
        whole = (len(line) - 1) // 4  # groups of four symbols that arrived (a cut line has fewer)
        if whole * 3 < (line[0] - 32) & 0x3F:
            line = bytes([32 + whole * 3]) + line[1: 1 + 4 * whole]
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            status = "corrupt"
            break
        pos = end + 1
        if len(out) > budget.remaining:
            budget.exhausted(left=len(data) - pos)
            return bytes(out[: budget.remaining]), "limit", pos
    return bytes(out), status, pos


class UuDecoder(Decoder):
    name = "uu"
    text = True
    reapply = False

    @staticmethod
    def sniff(data: bytes) -> bool:
        at = magic.locate(data, BEGIN_WORD)
        return at >= 0 and text.looks_textual(data) and BEGIN.search(data, at) is not None

    @staticmethod
    def decode(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes]]:
        at = magic.locate(data, BEGIN_WORD)
        match = BEGIN.search(data, at) if at >= 0 else None
        while match is not None:
            name = match.group(1).decode("utf-8", "replace")
            out, status, pos = _file(data, match.end() + 1, budget)
            if out:
                yield status_label(f"uu:{name}", status), out
            if status == "limit":
                return
            at = magic.locate(data, BEGIN_WORD, pos)
            match = BEGIN.search(data, at) if at >= 0 else None
